package nomadmirage;

import java.io.PrintStream;

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
                  help          show this text""";
    }
}
