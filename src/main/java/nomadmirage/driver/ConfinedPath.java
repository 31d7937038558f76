package nomadmirage.driver;

import java.nio.file.Path;

/**
 * A path a job named, resolved under one of the directories it may use: {@code root} (a real path
 * the plugin trusts, e.g. the task directory or the shared alloc directory, whose own entry the job
 * cannot replace) and {@code relative}, the components below it, none of them "." or "..". Every
 * component of {@code relative} is in directories the job can write, so {@link ConfinedFiles} walks
 * them one by one and never follows a link.
 */
record ConfinedPath(Path root, Path relative) {
    ConfinedPath {
        if (!root.isAbsolute()) {
            throw new IllegalArgumentException("confinement root must be absolute: " + root);
        }
        if (relative.isAbsolute() || relative.toString().isEmpty()) {
            throw new IllegalArgumentException("not a path below " + root + ": " + relative);
        }
        for (Path name : relative) {
            if (name.toString().equals(".") || name.toString().equals("..")) {
                throw new IllegalArgumentException("not a normalised path below " + root + ": " + relative);
            }
        }
    }

    /** {@code real} (a normalised absolute path) below {@code root}. */
    static ConfinedPath of(Path root, Path real) {
        if (!real.startsWith(root) || real.equals(root)) {
            throw new IllegalArgumentException(real + " is not below " + root);
        }
        return new ConfinedPath(root, root.relativize(real));
    }

    /** The full path, as the tender is given it. */
    Path path() {
        return root.resolve(relative);
    }

    Path fileName() {
        return relative.getFileName();
    }

    @Override
    public String toString() {
        return path().toString();
    }
}
