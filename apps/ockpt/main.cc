// ockpt: the command-line front end. Builds the CLI::App, registers the
// subcommands, runs the chosen one and maps its Status to an exit code.
//
// Every error is one line on stderr starting with "ockpt: " (parser errors
// too); help and --version go to stdout.

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <cstdlib>
#include <memory>
#include <iostream>
#include <string>
#include <vector>

#include "apps/ockpt/app_context.h"
#include "apps/ockpt/cli_support.h"
#include "apps/ockpt/commands.h"
#include "apps/ockpt/exit_codes.h"
#include "apps/ockpt/interrupt.h"
#include "apps/ockpt/version.h"
#include "lib/base/allocator.h"
#include "lib/base/file.h"
#include "lib/base/utf8.h"
#include "lib/parallel/fault_injection.h"
#include "lib/parallel/process_group.h"

namespace ockpt {
namespace {

// One line: newlines (CLI11 lists, multi-line causes) become "; ".
std::string OneLine(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      out += "; ";
      while (i + 1 < text.size() && text[i + 1] == ' ') ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Library messages name the problem, never a flag; the CLI adds the flag
// that changes the outcome where there is one.
std::string FlagHint(const Status& status) {
  if (status.message().find("links out of a checkpoint must be allowed explicitly") != std::string::npos) {
    return " [--allow-external-links]";
  }
  return "";
}

int UsageError(const std::string& message) {
  std::cerr << "ockpt: " << OneLine(message) << "\n";
  return kExitUsage;
}

// The option named `flag` ("--threads", "-q", "--x=3") of `app` or of an
// app above it (global flags are accepted after the command).
const CLI::Option* FindOption(const CLI::App* app, std::string flag) {
  size_t eq = flag.find('=');
  if (eq != std::string::npos) flag.resize(eq);
  for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    if (const CLI::Option* o = a->get_option_no_throw(flag)) return o;
  }
  return nullptr;
}

std::vector<std::string> FlagCandidates(const CLI::App* app) {
  std::vector<std::string> out;
  for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    for (std::string& n : OptionNames(*a)) out.push_back(std::move(n));
  }
  return out;
}

// Walks the command words of argv ("ocdbt ls"). Sets *deepest to the last
// command named. Returns a message for an unknown command or flag, with a
// suggestion when one is close; empty when everything is known.
std::string CheckWords(CLI::App& app, int argc, char** argv, const CLI::App** deepest) {
  const CLI::App* cur = &app;
  *deepest = cur;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if (a.size() > 1 && a[0] == '-' && !(a.size() > 1 && (std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.'))) {
      const CLI::Option* o = FindOption(cur, a);
      if (o == nullptr) {
        // The first unknown flag is the error (whether it takes a value is
        // unknown, so the words after it cannot be classified).
        std::string name = a.substr(0, a.find('='));
        std::string where = cur == &app ? "" : fmt::format(" for '{}'", cur->get_name());
        auto s = Suggest(name, FlagCandidates(cur));
        return s ? fmt::format("unknown flag '{}'{}; did you mean '{}'?", name, where, *s)
                 : fmt::format("unknown flag '{}'{} (see 'ockpt help{}{}')", name, where,
                               cur == &app ? "" : " ", cur == &app ? "" : cur->get_name());
      }
      if (a.find('=') == std::string::npos && o->get_items_expected_min() > 0 && a.rfind("--", 0) == 0) ++i;
      continue;
    }
    std::vector<std::string> subs = SubcommandNames(*cur);
    if (subs.empty()) continue;  // a command's own arguments
    const CLI::App* next = nullptr;
    for (const CLI::App* s : cur->get_subcommands([](const CLI::App*) { return true; })) {
      if (s->get_name() == a) next = s;
    }
    if (next == nullptr) {
      std::string parent = cur == &app ? "" : cur->get_name() + " ";
      auto s = Suggest(a, subs);
      if (s) return fmt::format("unknown command '{}{}'; did you mean '{}{}'?", parent, a, parent, *s);
      std::string list;
      for (const std::string& n : subs) list += (list.empty() ? "" : ", ") + n;
      return fmt::format("unknown command '{}{}' (commands: {})", parent, a, list);
    }
    cur = next;
    *deepest = cur;
  }
  return "";
}

int ReportParseError(CLI::App& app, const CLI::ParseError& e, const std::string& word_problem,
                     const CLI::App* deepest) {
  if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version: stdout, exit 0
  if (!word_problem.empty()) return UsageError(word_problem);
  std::string msg = e.what();
  if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && msg.find("subcommand") != std::string::npos) {
    if (deepest == &app) return UsageError("no command given (see 'ockpt help' for the list)");
    return UsageError(fmt::format("'{}' needs a subcommand: {} (see 'ockpt help {}')", deepest->get_name(),
                                  fmt::join(SubcommandNames(*deepest), ", "), deepest->get_name()));
  }
  bool missing = dynamic_cast<const CLI::RequiredError*>(&e) != nullptr ||
                 dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr ||
                 dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr;
  if (missing && deepest != &app) {
    std::string cmd = deepest->get_parent() != &app && deepest->get_parent() != nullptr
                          ? deepest->get_parent()->get_name() + " " + deepest->get_name()
                          : deepest->get_name();
    return UsageError(fmt::format("{}: {} (see 'ockpt help {}')", cmd, msg, cmd));
  }
  return UsageError(msg);
}

// `ockpt help [COMMAND [SUBCOMMAND]]`.
Result<int> Help(CLI::App& app, const std::vector<std::string>& topic, std::ostream& out) {
  const CLI::App* cur = &app;
  std::string where;  // "ocdbt " while looking for ocdbt's subcommand
  for (const std::string& word : topic) {
    const CLI::App* next = nullptr;
    for (const CLI::App* s : cur->get_subcommands([](const CLI::App*) { return true; })) {
      if (s->get_name() == word) next = s;
    }
    if (next == nullptr) {
      auto s = Suggest(word, SubcommandNames(*cur));
      if (s) return InvalidArgumentError("help: unknown command '{}{}'; did you mean '{}{}'?", where, word, where, *s);
      return InvalidArgumentError("help: unknown command '{}{}' (see 'ockpt help')", where, word);
    }
    where += word + " ";
    cur = next;
  }
  // The formatter directly: App::help() would describe the parsed `help`.
  std::string name = "ockpt" + (where.empty() ? "" : " " + where.substr(0, where.size() - 1));
  out << cur->get_formatter()->make_help(cur, name, CLI::AppFormatMode::Normal);
  return 0;
}

}  // namespace
}  // namespace ockpt

int main(int argc, char** argv) {
  using namespace ockpt;
  // First, before any thread starts: SIGINT/SIGTERM go to one watcher thread.
  InterruptWatcher* interrupts = InterruptWatcher::Start();
  TuneAllocatorForChunkBuffers();  // chunk buffers: reuse, no page-fault churn
  AppContext ctx;
  ctx.interrupts = interrupts;
  // The MPI job when a launcher started this process (lib/parallel), else
  // a run of one process. Joined before the parse so that MPI sees argv.
  auto group = JoinLaunchedGroup(&argc, &argv);
  if (!group.ok()) {
    std::cerr << "ockpt: " << TextLine(OneLine(std::string(group.status().message()))) << "\n";
    return ExitCodeFor(group.status().code());
  }
  std::unique_ptr<ProcessGroup> process_group = std::move(group).value();
  if (const char* fault = std::getenv("OCKPT_TEST_PROCESS_FAULT"); fault != nullptr && fault[0] != '\0') {
    auto f = ParseProcessFault(fault);
    if (!f.ok()) return UsageError(std::string(f.status().message()));
    process_group = WithProcessFault(std::move(process_group), *f);
  }
  ctx.process_group = process_group.get();
  CLI::App app{"ockpt: create, inspect and convert Orbax checkpoints", "ockpt"};
  app.fallthrough();  // global flags also after the command: ockpt metadata X --threads 2
  app.set_version_flag("-V,--version", VersionText(), "Print the version, git commit and compiled-in features");
  app.add_option("--threads", ctx.threads, "Worker threads (default 0: all cores)")->check(NonNegativeInt("4", 1 << 16));
  app.add_flag("--quiet", ctx.quiet, "No progress, no warnings, no summary");
  app.add_flag("--no-progress", ctx.no_progress, "No progress bars");
  app.add_flag("--verbose", ctx.verbose, "A summary line (bytes, seconds, rate) after every long command");
  bool allow_external_links = false;
  app.add_flag("--allow-external-links", allow_external_links,
               "Follow symbolic links from a checkpoint's files to outside its directory");
  app.require_subcommand(1);
  RegisterMetadata(app, ctx);
  RegisterRestore(app, ctx);
  RegisterSave(app, ctx);
  RegisterConvert(app, ctx);
  RegisterDiff(app, ctx);
  RegisterVerify(app, ctx);
  RegisterOcdbt(app, ctx);
  RegisterLsSteps(app, ctx);
  RegisterGc(app, ctx);
  std::vector<std::string> help_topic;
  CLI::App* help = app.add_subcommand("help", "Show help for ockpt or for one command");
  help->add_option("COMMAND", help_topic, "Command (and subcommand) to describe");
  help->callback([&] { ctx.action = [&]() { return Help(app, help_topic, *ctx.out); }; });
  AddHelpFooters(app);

  const CLI::App* deepest = &app;
  std::string word_problem = CheckWords(app, argc, argv, &deepest);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return ReportParseError(app, e, word_problem, deepest);
  }
  if (!ctx.action) return UsageError("no command given (see 'ockpt help' for the list)");
  SetAllowExternalLinks(allow_external_links);
  // Library code returns errors as values; an exception escaping from a
  // third-party call is still reported (and unwinds, so temporary outputs
  // are cleaned up) rather than aborting.
  Result<int> rc = InternalError("internal error");
  try {
    rc = ctx.action();
  } catch (const std::exception& e) {
    rc = InternalError("internal error: {}", e.what());
  }
  std::cout.flush();
  if (!rc.ok()) {
    // A failure every process of a multi-process run shares is printed once.
    if (!ctx.primary() && process_group->failed_together()) return ExitCodeFor(rc.status().code());
    std::cerr << "ockpt: " << TextLine(OneLine(std::string(rc.status().message()))) << FlagHint(rc.status())
              << "\n";
    return ExitCodeFor(rc.status().code());
  }
  return *rc;
}
