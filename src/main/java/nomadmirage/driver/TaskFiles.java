package nomadmirage.driver;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import nomadmirage.proc.TaskUser;
import nomadmirage.state.AtomicFiles;
import nomadmirage.state.Rollback;

/** Files a start creates — run directory, block files — each with its undo step. */
final class TaskFiles {
    private TaskFiles() {
    }

    static void createRunDir(Path runDir, Rollback cleanup) throws HostFailureException {
        try {
            Files.createDirectories(runDir.getParent());
            Files.createDirectory(runDir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            cleanup.add(() -> AtomicFiles.deleteTree(runDir));
        } catch (java.nio.file.FileAlreadyExistsException e) {
            throw new HostFailureException("run directory " + runDir + " already exists", e);
        } catch (IOException e) {
            throw new HostFailureException("cannot create the run directory " + runDir + ": " + e.getMessage(), e);
        }
    }

    static void createBlockFile(StartPlan.NewBlockFile file, Optional<TaskUser> user, Rollback cleanup)
            throws HostFailureException {
        try (RandomAccessFile raf = new RandomAccessFile(Files.createFile(file.file()).toFile(), "rw")) {
            cleanup.add(() -> Files.deleteIfExists(file.file()));
            raf.setLength(file.sizeBytes());
            if (user.isPresent()) {
                Files.setAttribute(file.file(), "unix:uid", user.get().uid());
                Files.setAttribute(file.file(), "unix:gid", user.get().gid());
            }
        } catch (IOException e) {
            throw new HostFailureException("cannot create block file " + file.file() + ": " + e.getMessage(), e);
        }
    }
}
