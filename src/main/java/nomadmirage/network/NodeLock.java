package nomadmirage.network;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.locks.ReentrantLock;
import nomadmirage.state.AtomicFiles;

/**
 * Mutual exclusion over node-wide network state, between threads and between
 * processes (a plugin being replaced by a new one). Reentrant per thread. The
 * JVM part is shared by path because a JVM cannot hold two file locks on the
 * same file (OverlappingFileLockException).
 */
final class NodeLock {
    private static final ConcurrentMap<Path, ReentrantLock> JVM_LOCKS = new ConcurrentHashMap<>();

    private final Path lockFile;
    private final ReentrantLock jvmLock;
    private FileChannel channel;
    private FileLock fileLock;

    NodeLock(Path lockFile) {
        this.lockFile = lockFile.toAbsolutePath().normalize();
        this.jvmLock = JVM_LOCKS.computeIfAbsent(this.lockFile, p -> new ReentrantLock());
    }

    interface Body<T> {
        T run() throws NetworkSetupException;
    }

    <T> T with(Body<T> body) throws NetworkSetupException {
        jvmLock.lock();
        try {
            boolean outermost = jvmLock.getHoldCount() == 1;
            if (outermost) {
                acquireFileLock();
            }
            try {
                return body.run();
            } finally {
                if (outermost) {
                    releaseFileLock();
                }
            }
        } finally {
            jvmLock.unlock();
        }
    }

    private void acquireFileLock() throws NetworkSetupException {
        try {
            AtomicFiles.ensureDirectories(lockFile.getParent());
            channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            fileLock = channel.lock();
        } catch (IOException e) {
            releaseFileLock();
            throw new NetworkSetupException("cannot lock " + lockFile + ": " + e.getMessage(), e);
        }
    }

    private void releaseFileLock() {
        try {
            if (fileLock != null) {
                fileLock.release();
            }
            if (channel != null) {
                channel.close();
            }
        } catch (IOException ignored) {
            // Closing the channel releases the lock; nothing else to do.
        } finally {
            fileLock = null;
            channel = null;
        }
    }
}
