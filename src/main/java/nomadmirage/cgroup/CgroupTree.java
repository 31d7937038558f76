package nomadmirage.cgroup;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.StringJoiner;

/**
 * The driver's own part of the cgroup hierarchies: {@code <hierarchy>/<parent>}, which holds one
 * cgroup per tender. It prepares the parent (v1 cpuset: cores and memory nodes copied down each level,
 * as Nomad's cpuset manager does, and cloned into new children; v2: the controllers enabled down to
 * it), removes a task's cgroups, and removes those of tasks no longer kept. The tenders' own cgroups
 * are created by their supervisors ({@link CgroupPlanner}).
 */
public final class CgroupTree {
    private final CgroupLayout layout;
    private final String parent;

    public CgroupTree(CgroupLayout layout, String parent) {
        this.layout = layout;
        this.parent = parent;
    }

    public CgroupLayout layout() {
        return layout;
    }

    public String parent() {
        return parent;
    }

    /** The parent directory in each hierarchy the driver uses (v2: one). */
    public Set<Path> parentDirs() {
        Set<Path> dirs = new LinkedHashSet<>();
        switch (layout.version()) {
            case NONE -> {
                // none
            }
            case V1 -> layout.available().forEach(c -> dirs.add(layout.mount(c).resolve(parent)));
            case V2 -> dirs.add(layout.mount(Controller.CPU).resolve(parent));
        }
        return dirs;
    }

    /** Creates the parent where it is missing; idempotent, and left in place like Nomad's own /nomad. */
    public void prepare() throws IOException {
        switch (layout.version()) {
            case NONE -> {
                // nothing to prepare
            }
            case V1 -> {
                for (Controller c : layout.available()) {
                    Path mount = layout.mount(c);
                    Path dir = mount;
                    for (Path name : Path.of(parent)) {
                        Path child = dir.resolve(name);
                        mkdir(child);
                        if (c == Controller.CPUSET) {
                            copyIfEmpty(dir, child, "cpuset.cpus");
                            copyIfEmpty(dir, child, "cpuset.mems");
                        }
                        dir = child;
                    }
                    if (c == Controller.CPUSET) {
                        Files.writeString(dir.resolve("cgroup.clone_children"), "1");
                    }
                }
            }
            case V2 -> {
                Path dir = layout.mount(Controller.CPU);
                String enable = subtreeControl();
                for (Path name : Path.of(parent)) {
                    if (!enable.isEmpty()) {
                        enableControllers(dir, enable);
                    }
                    dir = dir.resolve(name);
                    mkdir(dir);
                }
                if (!enable.isEmpty()) {
                    enableControllers(dir, enable);
                }
            }
        }
    }

    /** Removes the cgroups of one task; missing ones count as removed. Returns what could not be removed. */
    public List<String> removeTask(String task) {
        List<String> failures = new ArrayList<>();
        for (Path parentDir : parentDirs()) {
            Path dir = parentDir.resolve(task);
            try {
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                failures.add(dir + ": " + e.getMessage());
            }
        }
        return failures;
    }

    /** Removes every task cgroup under the parent whose name is not in {@code keep}; returns the removed ones. */
    public List<Path> removeAllBut(Set<String> keep) {
        List<Path> removed = new ArrayList<>();
        for (Path parentDir : parentDirs()) {
            try (DirectoryStream<Path> children = Files.newDirectoryStream(parentDir, Files::isDirectory)) {
                for (Path child : children) {
                    if (keep.contains(child.getFileName().toString())) {
                        continue;
                    }
                    try {
                        Files.delete(child);
                        removed.add(child);
                    } catch (IOException e) {
                        // still holds a process (a tender being stopped): the next reconcile retries
                    }
                }
            } catch (NoSuchFileException e) {
                // never prepared here
            } catch (IOException e) {
                // unreadable: nothing to remove this time
            }
        }
        return removed;
    }

    private String subtreeControl() {
        StringJoiner enable = new StringJoiner(" ");
        for (Controller c : layout.available()) {
            enable.add("+" + c.kernelName());
        }
        return enable.toString();
    }

    private static void enableControllers(Path dir, String enable) throws IOException {
        Files.writeString(dir.resolve("cgroup.subtree_control"), enable);
    }

    private static void mkdir(Path dir) throws IOException {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            try {
                Files.createDirectory(dir);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                // made meanwhile by another start
            }
        }
    }

    private static void copyIfEmpty(Path from, Path to, String file) throws IOException {
        if (Files.readString(to.resolve(file)).isBlank()) {
            Files.writeString(to.resolve(file), Files.readString(from.resolve(file)).strip());
        }
    }
}
