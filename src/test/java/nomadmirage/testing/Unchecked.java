package nomadmirage.testing;

import java.io.IOException;
import java.io.UncheckedIOException;

/** For polling lambdas: checked failures become unchecked, an interrupt is kept. */
public final class Unchecked {
    private Unchecked() {
    }

    /** A computation that may throw anything. */
    @FunctionalInterface
    public interface IoSupplier<T> {
        T get() throws Exception;
    }

    public static <T> T quietly(IoSupplier<T> supplier) {
        try {
            return supplier.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
