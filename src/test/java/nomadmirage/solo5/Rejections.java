package nomadmirage.solo5;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Asserts that an image is refused with a message naming the problem. */
final class Rejections {
    private Rejections() {
    }

    static ManifestException rejects(byte[] image, String... messageParts) {
        ManifestException e = assertThrows(ManifestException.class, () -> UnikernelReader.read(image));
        for (String part : messageParts) {
            assertTrue(e.getMessage().contains(part), () -> "message \"" + e.getMessage() + "\" should contain \"" + part + "\"");
        }
        return e;
    }

    static ManifestException rejects(TestElf elf, String... messageParts) {
        return rejects(elf.bytes(), messageParts);
    }

    static ManifestException rejects(TestElf.Image image, String... messageParts) {
        return rejects(image.bytes(), messageParts);
    }
}
