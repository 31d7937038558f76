package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Resolves paths from a job against the directories a task may use, following
 * symlinks, so a job can never reach a file outside them. This is the plan's
 * check; the directories stay writable by the job afterwards, so what the plugin
 * then does with the file goes through {@link ConfinedFiles}, which walks the
 * {@link ConfinedPath} returned here without following anything.
 */
final class PathConfinement {
    private PathConfinement() {
    }

    /** The real path of an existing file, below its root; relative paths start in {@code base}. */
    static ConfinedPath existing(String field, String written, Path base, List<Path> roots, String rootsDescription)
            throws InvalidTaskException {
        Path candidate = base.resolve(written).normalize();
        Path real;
        try {
            real = candidate.toRealPath();
        } catch (NoSuchFileException e) {
            throw new InvalidTaskException(field + ": \"" + written + "\" does not exist (looked at " + candidate + ")");
        } catch (IOException e) {
            throw new InvalidTaskException(field + ": \"" + written + "\" cannot be read: " + e.getMessage());
        }
        Optional<Path> root = rootOf(real, roots);
        if (root.isEmpty()) {
            throw new InvalidTaskException(field + ": \"" + written + "\" resolves to " + real + ", outside "
                    + rootsDescription);
        }
        if (!Files.isRegularFile(real)) {
            throw new InvalidTaskException(field + ": \"" + written + "\" is not a regular file");
        }
        return ConfinedPath.of(root.get(), real);
    }

    /**
     * Where a possibly missing file would be: its parent directory must exist
     * and be confined; the file itself, if present, must be confined too.
     */
    static ConfinedPath creatable(String field, String written, Path base, List<Path> roots, String rootsDescription)
            throws InvalidTaskException {
        Path candidate = base.resolve(written).normalize();
        if (Files.exists(candidate)) {
            return existing(field, written, base, roots, rootsDescription);
        }
        Path parent = candidate.getParent();
        Path realParent;
        try {
            realParent = parent.toRealPath();
        } catch (IOException e) {
            throw new InvalidTaskException(field + ": the directory of \"" + written + "\" does not exist ("
                    + parent + ")");
        }
        Optional<Path> root = rootOf(realParent, roots);
        if (root.isEmpty()) {
            throw new InvalidTaskException(field + ": \"" + written + "\" would be created in " + realParent
                    + ", outside " + rootsDescription);
        }
        if (Files.isSymbolicLink(candidate)) {
            throw new InvalidTaskException(field + ": \"" + written + "\" is a dangling symbolic link");
        }
        return ConfinedPath.of(root.get(), realParent.resolve(candidate.getFileName()));
    }

    static List<Path> realRoots(List<Path> roots) {
        List<Path> out = new ArrayList<>();
        for (Path root : roots) {
            realPath(root).ifPresent(out::add);
        }
        return out;
    }

    private static Optional<Path> realPath(Path p) {
        try {
            return Optional.of(p.toRealPath());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The root {@code real} is below (the deepest, when roots nest). */
    private static Optional<Path> rootOf(Path real, List<Path> roots) {
        Optional<Path> found = Optional.empty();
        for (Path root : roots) {
            if (real.startsWith(root) && !real.equals(root)
                    && (found.isEmpty() || root.getNameCount() > found.get().getNameCount())) {
                found = Optional.of(root);
            }
        }
        return found;
    }
}
