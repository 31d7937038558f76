package nomadmirage.cgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Where the node's cgroup controllers are mounted. v1: each controller's hierarchy (cpu and cpuacct
 * may share one); v2: the unified mount and the controllers its root offers. Decided as Nomad does:
 * v2 only when {@code /sys/fs/cgroup} itself is cgroup2, so a hybrid host (v1 controllers plus an
 * unified hierarchy beside them) is v1.
 */
public record CgroupLayout(CgroupVersion version, Map<Controller, Path> mounts, Set<Controller> available) {
    public static final Path DEFAULT_ROOT = Path.of("/sys/fs/cgroup");
    public static final CgroupLayout NONE = new CgroupLayout(CgroupVersion.NONE, Map.of(), Set.of());

    public CgroupLayout {
        mounts = Collections.unmodifiableMap(mounts.isEmpty() ? new EnumMap<>(Controller.class) : new EnumMap<>(mounts));
        available = available.isEmpty() ? Set.of() : Collections.unmodifiableSet(EnumSet.copyOf(available));
    }

    /** The mount a controller's files are in (v2: the unified mount for every controller). */
    public Path mount(Controller controller) {
        Path mount = mounts.get(controller);
        if (mount == null) {
            throw new IllegalArgumentException(controller.kernelName() + " is not mounted");
        }
        return mount;
    }

    public boolean has(Controller controller) {
        return available.contains(controller);
    }

    /** The controllers this node lacks of those the driver uses. */
    public Set<Controller> missing() {
        Set<Controller> missing = EnumSet.allOf(Controller.class);
        missing.removeAll(available);
        if (version == CgroupVersion.V2) {
            missing.remove(Controller.CPUACCT); // v2 counts CPU time in the cpu controller's cpu.stat
        }
        return missing;
    }

    /** This process's view: /proc/self/mountinfo and, on v2, the root's cgroup.controllers. */
    public static CgroupLayout detect() {
        try {
            CgroupLayout mounted = parse(Files.readAllLines(Path.of("/proc/self/mountinfo")), DEFAULT_ROOT);
            if (mounted.version() != CgroupVersion.V2) {
                return mounted;
            }
            Path root = mounted.mount(Controller.CPU);
            return mounted.withV2Controllers(Files.readString(root.resolve("cgroup.controllers")));
        } catch (IOException | RuntimeException e) {
            return NONE;
        }
    }

    /**
     * The layout mountinfo lines describe. On v2 every controller maps to the unified mount but none
     * is available until {@link #withV2Controllers} says which the root offers.
     */
    public static CgroupLayout parse(List<String> mountinfo, Path root) {
        Map<Controller, Path> v1 = new EnumMap<>(Controller.class);
        Path unifiedAtRoot = null;
        for (String line : mountinfo) {
            int dash = line.indexOf(" - ");
            if (dash < 0) {
                continue;
            }
            String[] fields = line.substring(0, dash).split(" ");
            String[] fs = line.substring(dash + 3).split(" ");
            if (fields.length < 5 || fs.length < 3) {
                continue;
            }
            Path mountPoint = Path.of(unescape(fields[4]));
            if (fs[0].equals("cgroup2") && mountPoint.equals(root)) {
                unifiedAtRoot = mountPoint;
            } else if (fs[0].equals("cgroup")) {
                for (String option : fs[2].split(",")) {
                    for (Controller c : Controller.values()) {
                        if (option.equals(c.kernelName())) {
                            v1.putIfAbsent(c, mountPoint);
                        }
                    }
                }
            }
        }
        if (unifiedAtRoot != null) {
            Map<Controller, Path> all = new EnumMap<>(Controller.class);
            for (Controller c : Controller.values()) {
                all.put(c, unifiedAtRoot);
            }
            return new CgroupLayout(CgroupVersion.V2, all, Set.of());
        }
        if (v1.isEmpty()) {
            return NONE;
        }
        return new CgroupLayout(CgroupVersion.V1, v1, v1.keySet());
    }

    /** A v2 layout with the controllers a root {@code cgroup.controllers} lists. */
    public CgroupLayout withV2Controllers(String controllers) {
        Set<Controller> offered = EnumSet.noneOf(Controller.class);
        for (String name : controllers.strip().split("\\s+")) {
            for (Controller c : Controller.values()) {
                if (c.kernelName().equals(name) && c != Controller.CPUACCT) {
                    offered.add(c);
                }
            }
        }
        return new CgroupLayout(version, mounts, offered);
    }

    /** mountinfo escapes space, tab, newline and backslash as octal. */
    private static String unescape(String field) {
        StringBuilder out = new StringBuilder(field.length());
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length() && field.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
