package nomadmirage;

import java.io.PrintStream;
import java.util.Arrays;
import nomadmirage.solo5.ManifestCommand;
import nomadmirage.status.StatusCommand;

/** Commands an operator runs directly (the plugin itself is started by Nomad). */
final class OperatorCli {
    private OperatorCli() {
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        switch (args[0]) {
            case "version", "--version", "-version" -> {
                out.println("nomad-driver-mirage " + BuildInfo.version());
                return 0;
            }
            case "manifest" -> {
                return ManifestCommand.run(Arrays.asList(args).subList(1, args.length), out, err);
            }
            case "status" -> {
                return StatusCommand.run(Arrays.asList(args).subList(1, args.length), out, err);
            }
            case "help", "--help", "-h" -> {
                out.println(usage());
                return 0;
            }
            default -> {
                err.println("unknown command \"" + args[0] + "\"\n" + usage());
                return 2;
            }
        }
    }

    static String usage() {
        return """
                usage: nomad-driver-mirage [COMMAND]
                  (no command)  serve the plugin; only Nomad starts it this way
                  version       print the plugin version
                  manifest FILE print the Solo5 ABI and device manifest of unikernel FILE
                                as two JSON lines, like solo5-elftool query-abi and
                                query-manifest; exit 1 if FILE is not a valid unikernel
                  %s
                  help          show this text""".formatted(StatusCommand.USAGE);
    }
}
