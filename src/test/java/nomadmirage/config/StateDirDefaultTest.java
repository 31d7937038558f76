package nomadmirage.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StateDirDefaultTest {
    @TempDir
    Path root;

    private Path defaultDir() {
        return root.resolve("run/nomad-driver-mirage");
    }

    private Path legacy() {
        return root.resolve("var/lib/nomad-driver-mirage");
    }

    @Test
    void theDefaultIsUsedWhenNoEarlierVersionLeftTasks() throws IOException {
        Files.createDirectories(legacy().resolve("tasks"));
        assertEquals(defaultDir(), StateDirDefault.effective(defaultDir(), defaultDir(), legacy()));
    }

    @Test
    void theLegacyDirectoryStaysInUseWhileItHoldsRunDirectories() throws IOException {
        Files.createDirectories(legacy().resolve("tasks/alloc1.web.0001"));
        assertEquals(legacy(), StateDirDefault.effective(defaultDir(), defaultDir(), legacy()));
    }

    @Test
    void onceTheDefaultHoldsTasksItIsUsedWhateverTheLegacyDirectoryHolds() throws IOException {
        Files.createDirectories(legacy().resolve("tasks/alloc1.web.0001"));
        Files.createDirectories(defaultDir().resolve("tasks/alloc2.web.0001"));
        assertEquals(defaultDir(), StateDirDefault.effective(defaultDir(), defaultDir(), legacy()));
    }

    @Test
    void aConfiguredDirectoryIsAlwaysUsedAsGiven() throws IOException {
        Files.createDirectories(legacy().resolve("tasks/alloc1.web.0001"));
        Path configured = root.resolve("elsewhere");
        assertEquals(configured, StateDirDefault.effective(configured, defaultDir(), legacy()));
    }

    @Test
    void aLegacyTasksLinkIsNotFollowed() throws IOException {
        Files.createDirectories(legacy());
        Files.createSymbolicLink(legacy().resolve("tasks"), root);
        assertEquals(defaultDir(), StateDirDefault.effective(defaultDir(), defaultDir(), legacy()),
                "tasks/ as a link is not the layout any version wrote");
    }
}
