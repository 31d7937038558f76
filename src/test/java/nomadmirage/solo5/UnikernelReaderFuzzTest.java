package nomadmirage.solo5;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Mutates valid unikernels at random: every outcome must be a parse or a
 * ManifestException, never another exception, an OutOfMemoryError or a hang.
 */
class UnikernelReaderFuzzTest {
    private static final int MUTATIONS = 20_000;
    private static final int[] INTERESTING_INTS = {0, 1, 2, 3, 4, 6, 7, 8, 12, 16, 19, 20, 24, 32, 56, 64, 65, 104, 6668, 6669,
            0x7fff, 0xffff, 0x10000, 1 << 30, Integer.MAX_VALUE, Integer.MIN_VALUE, -1, -2};

    @Test
    void everyMutationParsesOrFailsCleanly() {
        List<byte[]> seeds = List.of(
                TestElf.unikernel().bytes(),
                TestElf.unikernel().device("service0", DeviceType.NET_BASIC).bytes(),
                TestElf.unikernel().target(AbiTarget.SPT, 2).machine(TestElf.EM_AARCH64).devices(5).manifestFirst().bytes(),
                TestElf.unikernel().target(AbiTarget.VIRTIO, 1).devices(63).bytes());
        Random random = new Random(0x5015);
        int[] outcomes = new int[2];

        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> {
            for (int i = 0; i < MUTATIONS; i++) {
                byte[] image = mutate(seeds.get(random.nextInt(seeds.size())), random);
                try {
                    UnikernelReader.read(image);
                    outcomes[0]++;
                } catch (ManifestException expected) {
                    outcomes[1]++;
                } catch (RuntimeException | Error e) {
                    fail("mutation " + i + " threw " + e + " for image " + Arrays.toString(Arrays.copyOf(image, 64)), e);
                }
            }
        });

        assertTrue(outcomes[0] > 500 && outcomes[1] > 500,
                "mutations should both survive and break parsing: " + outcomes[0] + " parsed, " + outcomes[1] + " refused");
    }

    private static byte[] mutate(byte[] seed, Random random) {
        byte[] image = seed.clone();
        int edits = 1 + random.nextInt(4);
        for (int e = 0; e < edits; e++) {
            image = switch (random.nextInt(6)) {
                case 0 -> flipBit(image, random);
                case 1 -> setByte(image, random);
                case 2 -> setWord(image, random);
                case 3 -> Arrays.copyOf(image, random.nextInt(image.length + 1));
                case 4 -> extend(image, random);
                default -> setWordInHeaders(image, random);
            };
        }
        return image;
    }

    private static byte[] flipBit(byte[] image, Random random) {
        if (image.length > 0) {
            image[random.nextInt(image.length)] ^= (byte) (1 << random.nextInt(8));
        }
        return image;
    }

    private static byte[] setByte(byte[] image, Random random) {
        if (image.length > 0) {
            image[random.nextInt(image.length)] = (byte) (random.nextBoolean() ? random.nextInt(256) : INTERESTING_INTS[random.nextInt(8)]);
        }
        return image;
    }

    private static byte[] setWord(byte[] image, Random random) {
        return putInt(image, image.length < 4 ? 0 : random.nextInt(image.length - 3), random);
    }

    /** The first kilobyte holds the ELF header, the program headers and the note headers: most decisions are made there. */
    private static byte[] setWordInHeaders(byte[] image, Random random) {
        int span = Math.min(image.length, 1024) - 3;
        return span <= 0 ? image : putInt(image, random.nextInt(span) & ~3, random);
    }

    private static byte[] putInt(byte[] image, int at, Random random) {
        if (image.length < 4) {
            return image;
        }
        int value = INTERESTING_INTS[random.nextInt(INTERESTING_INTS.length)];
        for (int i = 0; i < 4; i++) {
            image[at + i] = (byte) (value >>> (8 * i));
        }
        return image;
    }

    private static byte[] extend(byte[] image, Random random) {
        byte[] longer = Arrays.copyOf(image, image.length + 1 + random.nextInt(256));
        for (int i = image.length; i < longer.length; i++) {
            longer[i] = (byte) random.nextInt(256);
        }
        return longer;
    }
}
