package nomadmirage.solo5;

import java.io.PrintWriter;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code nomad-driver-mirage manifest FILE}: shows what a unikernel declares, as solo5-elftool would. */
@Command(name = "manifest",
        description = {
            "Print the Solo5 ABI and device manifest of a unikernel as two JSON lines.",
            "The lines are shaped like the output of solo5-elftool query-abi and query-manifest:",
            "  {\"type\":\"solo5.abi\",\"target\":\"hvt\",\"version\":2}",
            "  {\"type\":\"solo5.manifest\",\"version\":1,\"devices\":[DEVICE,...]}",
            "with each DEVICE like {\"name\":\"service0\",\"type\":\"NET_BASIC\"}."},
        exitCodeList = {"0:printed", "1:FILE is not a valid Solo5 unikernel", "2:usage error"})
public final class ManifestCommand implements Callable<Integer> {
    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help and exit.")
    boolean help;

    @Parameters(paramLabel = "FILE", description = "The unikernel image (ELF) to read.")
    String file;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        Unikernel unikernel;
        try {
            unikernel = UnikernelReader.read(Path.of(file));
        } catch (ManifestException | InvalidPathException e) {
            spec.commandLine().getErr().println("error: " + e.getMessage());
            return 1;
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(ElftoolJson.abi(unikernel.abi()));
        out.println(ElftoolJson.manifest(unikernel.manifest()));
        return 0;
    }
}
