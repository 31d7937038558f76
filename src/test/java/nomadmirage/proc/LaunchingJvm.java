package nomadmirage.proc;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Stands in for a plugin JVM that launches a tender and then dies: SupervisorIT runs it as a
 * separate JVM. Arguments: SUPERVISOR_BINARY RUN_DIR exit|hang TENDER [ARGS...].
 */
public final class LaunchingJvm {
    private LaunchingJvm() {
    }

    public static void main(String[] args) throws Exception {
        List<String> argv = Arrays.asList(args).subList(3, args.length);
        SupervisedProcess process = new NativeSupervisor(Path.of(args[0])).launch(new LaunchRequest(
                argv, Path.of("/"), null, null, Path.of(args[1]), null));
        System.out.println("launched " + process.tender().pid() + " " + process.supervisor().pid());
        System.out.flush();
        if (args[2].equals("hang")) {
            Thread.sleep(Long.MAX_VALUE);
        }
        System.exit(0);
    }
}
