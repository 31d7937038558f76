package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The node's CPU bandwidth in MHz and its core count, to express a task's CPU
 * use in Nomad's "ticks" (MHz consumed), as Nomad's own executor does.
 */
public record NodeCompute(double totalMhz, int cores) {
    public double ticksConsumed(double percent) {
        return cores == 0 ? 0 : percent / 100 * totalMhz / cores;
    }

    /** Read from /proc/cpuinfo (sum of the cores' current MHz). */
    public static NodeCompute detect() {
        int cores = Runtime.getRuntime().availableProcessors();
        double mhz = 0;
        int seen = 0;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("cpu MHz")) {
                    mhz += Double.parseDouble(line.substring(line.indexOf(':') + 1).trim());
                    seen++;
                }
            }
        } catch (IOException | NumberFormatException e) {
            seen = 0;
        }
        if (seen == 0) {
            mhz = 1000.0 * cores;
        }
        return new NodeCompute(mhz, cores);
    }
}
