package nomadmirage;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import nomadmirage.proc.CommandRunner;
import nomadmirage.proc.ProcessCommandRunner;
import nomadmirage.solo5.ManifestCommand;
import nomadmirage.status.StatusCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.UsageMessageSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.UnmatchedArgumentException;

/** Commands an operator runs directly (the plugin itself is started by Nomad, without arguments). */
@Command(name = "nomad-driver-mirage",
        description = {
            "Nomad task driver for Solo5/MirageOS unikernels.",
            "Nomad starts this binary without arguments to serve the plugin; the commands below are for "
                    + "operators."},
        versionProvider = OperatorCli.Version.class,
        synopsisSubcommandLabel = "COMMAND",
        exitCodeList = {"0:done", "1:the command failed (see its help)", "2:usage error"})
final class OperatorCli implements Callable<Integer> {
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
    boolean help;

    @Option(names = "--version", versionHelp = true, description = "Print the plugin version and exit.")
    boolean version;

    @Spec
    CommandSpec spec;

    static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, out, err, new ProcessCommandRunner());
    }

    /** {@code hostCommands} runs the host commands that {@code status} reads the network with. */
    static int run(String[] args, PrintStream out, PrintStream err, CommandRunner hostCommands) {
        PrintWriter outWriter = new PrintWriter(out, true, out.charset());
        PrintWriter errWriter = new PrintWriter(err, true, err.charset());
        try {
            return commandLine(hostCommands).setOut(outWriter).setErr(errWriter).execute(args);
        } finally {
            outWriter.flush();
            errWriter.flush();
        }
    }

    /** The top-level usage, as {@code help} prints it. */
    static String usage() {
        return commandLine(new ProcessCommandRunner()).getUsageMessage();
    }

    private static CommandLine commandLine(CommandRunner hostCommands) {
        CommandLine root = new CommandLine(new OperatorCli())
                .addSubcommand(new ManifestCommand())
                .addSubcommand(new StatusCommand(hostCommands))
                .addSubcommand(new HelpCommand())
                .setColorScheme(CommandLine.Help.defaultColorScheme(CommandLine.Help.Ansi.OFF))
                // "@name" is a file name to us, not a file of arguments to read.
                .setExpandAtFiles(false)
                .setParameterExceptionHandler(OperatorCli::usageError);
        layout(root);
        root.getSubcommands().values().stream().filter(c -> !(c.getCommand() instanceof HelpCommand))
                .forEach(OperatorCli::layout);
        return root;
    }

    /** Our commands' help in one layout: sections apart, options in the order declared (picocli's help has its own). */
    private static void layout(CommandLine command) {
        UsageMessageSpec usage = command.getCommandSpec().usageMessage()
                .descriptionHeading("%n")
                .parameterListHeading("%nArguments:%n")
                .optionListHeading("%nOptions:%n")
                .commandListHeading("%nCommands:%n")
                .sortOptions(false)
                .sortSynopsis(false);
        if (!usage.exitCodeList().isEmpty()) {
            usage.exitCodeListHeading("%nExit status:%n");
        }
    }

    /** Reached with options but no command (the plugin itself runs without any argument). */
    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "Missing command");
    }

    @Command(name = "version", description = "Print the plugin version.")
    int version(@Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.") boolean help) {
        spec.commandLine().getOut().println(versionLine());
        return 0;
    }

    /** The problem on one line, then the usage of the command it concerns (picocli's default omits it after a suggestion). */
    private static int usageError(ParameterException e, String[] args) {
        CommandLine command = e.getCommandLine();
        String problem = e instanceof UnmatchedArgumentException unmatched && !unmatched.isUnknownOption()
                && !command.getSubcommands().isEmpty()
                ? "Unknown command: '" + unmatched.getUnmatched().getFirst() + "'"
                : e.getMessage();
        PrintWriter err = command.getErr();
        err.println(command.getCommandSpec().qualifiedName() + ": " + problem);
        UnmatchedArgumentException.printSuggestions(e, err);
        command.usage(err);
        return CommandLine.ExitCode.USAGE;
    }

    private static String versionLine() {
        return "nomad-driver-mirage " + BuildInfo.version();
    }

    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {versionLine()};
        }
    }
}
