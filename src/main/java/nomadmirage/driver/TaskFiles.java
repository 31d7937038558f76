package nomadmirage.driver;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import nomadmirage.proc.TaskUser;
import nomadmirage.state.AtomicFiles;
import nomadmirage.state.Rollback;

/** Files a start creates — run directory, block files — each with its undo step, and the block files it checks. */
final class TaskFiles {
    private TaskFiles() {
    }

    static void createRunDir(Path runDir, Rollback cleanup) throws HostFailureException {
        try {
            AtomicFiles.ensureDirectories(runDir.getParent());
            Files.createDirectory(runDir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            cleanup.add(() -> AtomicFiles.deleteTree(runDir));
        } catch (java.nio.file.FileAlreadyExistsException e) {
            throw new HostFailureException("run directory " + runDir + " already exists", e);
        } catch (IOException e) {
            throw new HostFailureException("cannot create the run directory " + runDir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Creates a block file in the job's directories (see {@link ConfinedFiles#create}): what the job put
     * in its way since the plan (a link, a swapped directory, a file of its own) is refused as a job
     * error; the undo removes the file only while its name still is the file created here.
     */
    static void createBlockFile(ConfinedFiles files, StartPlan.NewBlockFile file, Optional<TaskUser> user,
            Rollback cleanup) throws DriverException {
        ConfinedFiles.Created created;
        try {
            created = files.create(file.file(), file.sizeBytes(), user);
        } catch (ConfinedFiles.Refused e) {
            throw new InvalidTaskException(file.field() + ": cannot create the block file " + e.getMessage(), e);
        } catch (IOException e) {
            throw new HostFailureException("cannot create block file " + file.file() + ": " + e.getMessage(), e);
        }
        cleanup.add(() -> files.deleteCreated(created));
    }

    /** Checks again, just before the tender gets its path, that an existing block file still is a fit regular file. */
    static void checkBlockFile(ConfinedFiles files, StartPlan.ExistingBlockFile file) throws DriverException {
        long size;
        try {
            size = files.checkRegular(file.file());
        } catch (ConfinedFiles.Refused e) {
            throw new InvalidTaskException(file.field() + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new HostFailureException("cannot check block file " + file.file() + ": " + e.getMessage(), e);
        }
        LaunchPlanner.checkBlockSize(file.field(), file.file().path(), size, file.sectorSize());
    }
}
