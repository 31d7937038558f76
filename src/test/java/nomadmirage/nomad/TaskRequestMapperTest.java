package nomadmirage.nomad;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Optional;
import nomadmirage.driver.InvalidTaskException;
import nomadmirage.proto.drivers.NetworkIsolationSpec;
import nomadmirage.proto.drivers.NetworkIsolationSpec.NetworkIsolationMode;
import nomadmirage.proto.drivers.TaskConfig;
import org.junit.jupiter.api.Test;

/** The allocation's network namespace as Nomad's task config gives it: used as given, or refused. */
class TaskRequestMapperTest {
    private static TaskConfig spec(NetworkIsolationMode mode, String path) {
        return TaskConfig.newBuilder().setId("a/t/1")
                .setNetworkIsolationSpec(NetworkIsolationSpec.newBuilder().setMode(mode).setPath(path)).build();
    }

    @Test
    void hostModeOrNoSpecIsHostNetworking() throws Exception {
        assertEquals(Optional.empty(), TaskRequestMapper.groupNamespace(TaskConfig.newBuilder().setId("a/t/1").build()));
        assertEquals(Optional.empty(), TaskRequestMapper.groupNamespace(spec(NetworkIsolationMode.HOST, "")));
    }

    @Test
    void groupModeUsesThePathExactlyAsGiven() throws Exception {
        assertEquals(Optional.of(Path.of("/var/run/docker/netns/0123abcd")),
                TaskRequestMapper.groupNamespace(spec(NetworkIsolationMode.GROUP, "/var/run/docker/netns/0123abcd")));
    }

    @Test
    void hostilePathsAndOtherModesAreRefused() {
        for (String path : new String[] {"", "relative/netns", "/var/run/netns/a\0b", "/" + "x".repeat(5000)}) {
            InvalidTaskException e = assertThrows(InvalidTaskException.class,
                    () -> TaskRequestMapper.groupNamespace(spec(NetworkIsolationMode.GROUP, path)));
            assertTrue(e.getMessage().contains("is not an absolute path"), e.getMessage());
        }
        for (NetworkIsolationMode mode : new NetworkIsolationMode[] {NetworkIsolationMode.TASK, NetworkIsolationMode.NONE}) {
            InvalidTaskException e = assertThrows(InvalidTaskException.class,
                    () -> TaskRequestMapper.groupNamespace(spec(mode, "/var/run/netns/x")));
            assertTrue(e.getMessage().contains("is not supported"), e.getMessage());
        }
    }
}
