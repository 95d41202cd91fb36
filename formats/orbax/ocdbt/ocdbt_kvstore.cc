// Implemented by the OCDBT reader.
