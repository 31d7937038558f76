package nomadmirage.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import nomadmirage.config.PluginConfig;
import nomadmirage.proc.TaskUser;
import org.junit.jupiter.api.Test;

class UserPolicyTest {
    /** The node's users as `id` would report them; records every lookup. */
    private final Map<String, TaskUser> node = Map.of(
            "root", new TaskUser(0, 0, List.of(0)),
            "toor", new TaskUser(0, 0, List.of()),
            "nobody", new TaskUser(65534, 65534, List.of(65534)),
            "alice", new TaskUser(1000, 1000, List.of(1000, 27)),
            "wheel", new TaskUser(1001, 1001, List.of(1001, 0)));
    private final List<String> lookups = new ArrayList<>();
    private final UserDirectory users = new UserDirectory() {
        @Override
        public Optional<TaskUser> resolve(String user) throws InvalidTaskException {
            lookups.add(user);
            if (user.matches("\\d+(:\\d+)?")) {
                String[] parts = user.split(":");
                int uid = Integer.parseInt(parts[0]);
                return Optional.of(new TaskUser(uid, parts.length > 1 ? Integer.parseInt(parts[1]) : uid, List.of()));
            }
            TaskUser found = node.get(user);
            if (found == null) {
                throw new InvalidTaskException("user: \"" + user + "\" does not exist on this node");
            }
            return Optional.of(found);
        }


        @Override
        public boolean canSwitchUsers() {
            return true;
        }
    };

    private static PluginConfig plugin(String defaultUser, List<String> allowed) {
        PluginConfig c = PluginConfig.defaults();
        return new PluginConfig(c.solo5Hvt(), c.solo5Spt(), c.qemu(), c.bridge(), c.subnet(), c.stateDir(),
                c.imagePaths(), c.logLevel(), c.fingerprintPeriod(), defaultUser, c.qemuAutoKvm(),
                new PluginConfig.Limits(c.limits().qemuAllowedArgs(), c.limits().maxBlockBytes(), allowed),
                c.macOui(), c.mtu(), c.isolateTasks(), c.reconcile());
    }

    private String refused(String taskUser, PluginConfig plugin) {
        return assertThrows(InvalidTaskException.class, () -> UserPolicy.resolve(users, taskUser, plugin)).getMessage();
    }

    @Test
    void rootIsRefusedByNameUidUidGidOrLookup() {
        PluginConfig plugin = plugin("nobody", List.of());
        for (String root : List.of("root", "0", "0:65534", "000", "toor")) {
            String message = refused(root, plugin);
            assertTrue(message.startsWith("user: \"" + root + "\" would run the tender as root (uid 0)"), message);
            assertTrue(message.contains("allowed_users"), message);
        }
        for (String rootGroup : List.of("65534:0", "wheel")) {
            String message = refused(rootGroup, plugin);
            assertTrue(message.startsWith("user: \"" + rootGroup + "\" would run the tender with root's group (gid 0)"),
                    message);
        }
        assertEquals(List.of("toor", "wheel"), lookups, "names written as root are refused before any lookup");
    }

    @Test
    void theDefaultUserIsCheckedUnderItsOwnName() {
        String message = refused(null, plugin("toor", List.of()));
        assertTrue(message.startsWith("default_user: \"toor\" would run the tender as root"), message);
        assertTrue(refused("", plugin("0", List.of())).startsWith("default_user: \"0\""));
    }

    @Test
    void anyoneButRootWhenNoListIsSet() throws Exception {
        PluginConfig plugin = plugin("nobody", List.of());
        assertEquals(65534, UserPolicy.resolve(users, null, plugin).orElseThrow().uid());
        assertEquals(1000, UserPolicy.resolve(users, "alice", plugin).orElseThrow().uid());
        assertEquals(4242, UserPolicy.resolve(users, "4242:4242", plugin).orElseThrow().uid());
    }

    @Test
    void allowedUsersListsNamesOrUids() throws Exception {
        PluginConfig plugin = plugin("nobody", List.of("nobody", "1000"));
        assertEquals(1000, UserPolicy.resolve(users, "alice", plugin).orElseThrow().uid(), "alice is uid 1000");
        assertEquals(1000, UserPolicy.resolve(users, "1000:1000", plugin).orElseThrow().uid());
        assertEquals(65534, UserPolicy.resolve(users, "", plugin).orElseThrow().uid());
        String message = refused("4242", plugin);
        assertTrue(message.startsWith("user: \"4242\" is not one of the users")
                && message.contains("allowed_users is [\"nobody\", \"1000\"]"), message);
        assertTrue(refused("root", plugin).contains("as root (uid 0)"), "root is refused before the list is consulted");
    }

    @Test
    void rootOnlyWhenListedExplicitly() throws Exception {
        PluginConfig byName = plugin("nobody", List.of("root", "nobody"));
        assertEquals(0, UserPolicy.resolve(users, "root", byName).orElseThrow().uid());
        assertEquals(0, UserPolicy.resolve(users, "0", plugin("nobody", List.of("0"))).orElseThrow().uid());
        assertTrue(refused("toor", byName).contains("is not one of the users"), "toor is uid 0 but not listed");
    }

    @Test
    void perTaskUidsAreNeverAJobsToName() {
        PluginConfig plugin = plugin("nobody", List.of());
        for (String taken : List.of("80000", "89999", "1000:85000", "85000:1000")) {
            String message = refused(taken, plugin);
            assertTrue(message.startsWith("user: \"" + taken + "\" has uid") && message.contains("80000..89999")
                    && message.contains("leave user out"), message);
        }
        assertTrue(UserPolicy.wantsOwnUid(null, plugin("", List.of())));
        assertTrue(UserPolicy.wantsOwnUid("", plugin("", List.of())));
        assertFalse(UserPolicy.wantsOwnUid("alice", plugin("", List.of())), "a named user is that user");
        assertFalse(UserPolicy.wantsOwnUid(null, plugin("nobody", List.of())), "an operator's default_user is shared");
    }

    @Test
    void aNameThatLooksUpToAPerTaskUidIsRefused() {
        UserDirectory lookup = new UserDirectory() {
            @Override
            public boolean canSwitchUsers() {
                return true;
            }

            @Override
            public Optional<TaskUser> resolve(String user) {
                return Optional.of(new TaskUser(80005, 100, List.of()));
            }

        };
        String message = assertThrows(InvalidTaskException.class,
                () -> UserPolicy.resolve(lookup, "mallory", plugin("nobody", List.of()))).getMessage();
        assertTrue(message.startsWith("user: \"mallory\" has uid 80005"), message);
    }

    @Test
    void malformedUsersNeverReachTheLookup() {
        PluginConfig plugin = plugin("nobody", List.of());
        for (String bad : List.of("--help", "a b", "1:2:3", "99999999999", "-1", "x\0y")) {
            String message = refused(bad, plugin);
            assertTrue(message.startsWith("user: ") && message.contains("is not a user name"), message);
        }
        assertEquals(List.of(), lookups);
    }
}
