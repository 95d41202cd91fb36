// Implemented by the zarr reader.
