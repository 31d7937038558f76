package nomadmirage.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import nomadmirage.cgroup.CgroupLayout;
import nomadmirage.cgroup.CgroupTree;
import nomadmirage.config.PluginConfig;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * After each test class: removes the driver's default cgroup parent ({@code <hierarchy>/nomad-mirage})
 * where a plugin a test started left it empty. A plugin prepares it when it fingerprints the node or
 * starts a task and, like Nomad with its {@code /nomad}, leaves it in place; a test run leaves nothing.
 * A parent that still holds a task's cgroup is not removed (rmdir refuses it).
 */
public final class DefaultCgroupParentCleanup implements AfterAllCallback {
    @Override
    public void afterAll(ExtensionContext context) {
        for (Path dir : new CgroupTree(CgroupLayout.detect(), PluginConfig.DEFAULT_CGROUP_PARENT).parentDirs()) {
            try {
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                // still in use, or not ours to remove (no root): left as it is
            }
        }
    }
}
