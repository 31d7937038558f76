package nomadmirage.solo5;

import java.io.PrintStream;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;

/** {@code nomad-driver-mirage manifest FILE}: shows what a unikernel declares, as solo5-elftool would. */
public final class ManifestCommand {
    public static final String USAGE = """
            usage: nomad-driver-mirage manifest FILE
              Prints the Solo5 ABI and device manifest of the unikernel FILE as two
              JSON lines, shaped like solo5-elftool query-abi and query-manifest:
                {"type":"solo5.abi","target":"hvt","version":2}
                {"type":"solo5.manifest","version":1,"devices":[{"name":"service0","type":"NET_BASIC"}]}
              Exit status: 0 printed, 1 FILE is not a valid Solo5 unikernel, 2 usage error.""";

    private ManifestCommand() {
    }

    /** {@code args} are the words after "manifest". */
    public static int run(List<String> args, PrintStream out, PrintStream err) {
        if (args.size() != 1) {
            err.println(USAGE);
            return 2;
        }
        Unikernel unikernel;
        try {
            unikernel = UnikernelReader.read(Path.of(args.getFirst()));
        } catch (ManifestException | InvalidPathException e) {
            err.println("error: " + e.getMessage());
            return 1;
        }
        out.println(ElftoolJson.abi(unikernel.abi()));
        out.println(ElftoolJson.manifest(unikernel.manifest()));
        return 0;
    }
}
