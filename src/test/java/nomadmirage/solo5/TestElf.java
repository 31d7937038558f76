package nomadmirage.solo5;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Writes ELF64 little-endian images shaped like a Solo5 unikernel: an ELF
 * header, a program header table (one PT_LOAD, then one PT_NOTE per note, the
 * OpenBSD note first as bindings/solo5_hvt.lds puts it) and the notes, laid
 * out from include/elf_abi.h and include/mft_abi.h. Setters choose the values
 * a field gets; {@link Image} edits bytes at named offsets afterwards.
 */
public final class TestElf {
    static final int ABI1 = 0x31494241;
    static final int MFT1 = 0x3154464d;
    static final int RESERVED_FIRST = 1 << 30;
    static final int EM_X86_64 = 62;
    static final int EM_AARCH64 = 183;
    static final int ENTRY_SIZE = 104;
    static final int PHDR_SIZE = 56;
    static final int PT_LOAD = 1;
    static final int PT_NOTE = 4;

    private int elfClass = 2;
    private int dataEncoding = 1;
    private int elfType = 2;
    private int machine = EM_X86_64;
    private int elfVersion = 1;
    private int ehsize = 64;
    private int phentsize = PHDR_SIZE;
    private int abiTarget = AbiTarget.HVT.code();
    private int abiVersion = 2;
    private Integer abiDescsz;
    private int manifestVersion = 1;
    private Integer manifestEntries;
    private Integer manifestDescsz;
    private boolean withAbi = true;
    private boolean withManifest = true;
    private boolean manifestFirst;
    private final List<Entry> entries = new ArrayList<>(List.of(Entry.reserved()));
    private final List<byte[]> notesBefore = new ArrayList<>();
    private final List<byte[]> notesAfter = new ArrayList<>();

    /** One struct mft_entry; name is written as given, zero-padded to 68 bytes. */
    record Entry(byte[] name, int type, int attached) {
        static Entry reserved() {
            return new Entry(new byte[0], RESERVED_FIRST, 0);
        }

        static Entry device(String name, int type) {
            return new Entry(name.getBytes(StandardCharsets.ISO_8859_1), type, 0);
        }
    }

    static TestElf unikernel() {
        return new TestElf();
    }

    /** A unikernel for {@code target} (ABI version 2, as Solo5 v0.9 to v0.12) that declares no devices. */
    public static byte[] withoutDevices(AbiTarget target) {
        return unikernel().target(target, 2).bytes();
    }

    TestElf target(AbiTarget target, int version) {
        return abiTargetCode(target.code()).abiVersion(version);
    }

    TestElf abiTargetCode(int code) {
        abiTarget = code;
        return this;
    }

    TestElf abiVersion(int version) {
        abiVersion = version;
        return this;
    }

    TestElf abiDescsz(int descsz) {
        abiDescsz = descsz;
        return this;
    }

    TestElf machine(int code) {
        machine = code;
        return this;
    }

    TestElf elfClass(int value) {
        elfClass = value;
        return this;
    }

    TestElf dataEncoding(int value) {
        dataEncoding = value;
        return this;
    }

    TestElf elfType(int value) {
        elfType = value;
        return this;
    }

    TestElf elfVersion(int value) {
        elfVersion = value;
        return this;
    }

    TestElf ehsize(int value) {
        ehsize = value;
        return this;
    }

    TestElf phentsize(int value) {
        phentsize = value;
        return this;
    }

    TestElf device(String name, DeviceType type) {
        return entry(Entry.device(name, type.code()));
    }

    TestElf devices(int count) {
        for (int i = 0; i < count; i++) {
            device("dev" + i, i % 2 == 0 ? DeviceType.NET_BASIC : DeviceType.BLOCK_BASIC);
        }
        return this;
    }

    TestElf entry(Entry entry) {
        entries.add(entry);
        return this;
    }

    TestElf replaceEntry(int index, Entry entry) {
        entries.set(index, entry);
        return this;
    }

    TestElf manifestVersion(int version) {
        manifestVersion = version;
        return this;
    }

    /** The entries count written, whatever number of entries follows. */
    TestElf manifestEntries(int count) {
        manifestEntries = count;
        return this;
    }

    /** n_descsz written; the note's bytes and p_filesz grow to match when it is larger than the content. */
    TestElf manifestDescsz(int descsz) {
        manifestDescsz = descsz;
        return this;
    }

    TestElf withoutAbi() {
        withAbi = false;
        return this;
    }

    TestElf withoutManifest() {
        withManifest = false;
        return this;
    }

    TestElf manifestFirst() {
        manifestFirst = true;
        return this;
    }

    /** A PT_NOTE segment holding {@code note} as is, placed before the Solo5 notes. */
    TestElf noteBefore(byte[] note) {
        notesBefore.add(note);
        return this;
    }

    TestElf noteAfter(byte[] note) {
        notesAfter.add(note);
        return this;
    }

    /** A note in ELF form: header, name padded to 4 bytes, descriptor padded to 4 bytes. */
    static byte[] note(int namesz, byte[] name, int type, byte[] desc) {
        ByteBuffer b = le(12 + align4(name.length) + align4(desc.length));
        b.putInt(namesz).putInt(desc.length).putInt(type).put(name);
        b.position(12 + align4(name.length));
        b.put(desc);
        return b.array();
    }

    static byte[] solo5Name() {
        return new byte[] {'S', 'o', 'l', 'o', '5', 0};
    }

    static byte[] abiNote(int target, int version) {
        return note(6, solo5Name(), ABI1, le(16).putInt(target).putInt(version).array());
    }

    byte[] bytes() {
        return build().bytes();
    }

    Image build() {
        List<byte[]> notes = new ArrayList<>();
        notes.add(note(8, "OpenBSD\0".getBytes(StandardCharsets.US_ASCII), 1, new byte[4]));
        notes.addAll(notesBefore);
        int abiIndex = -1;
        int manifestIndex = -1;
        List<byte[]> solo5 = new ArrayList<>();
        if (manifestFirst && withManifest) {
            solo5.add(manifestNote());
        }
        if (withAbi) {
            solo5.add(abiNote());
        }
        if (!manifestFirst && withManifest) {
            solo5.add(manifestNote());
        }
        int firstSolo5 = notes.size();
        notes.addAll(solo5);
        if (withAbi) {
            abiIndex = 1 + firstSolo5 + (manifestFirst && withManifest ? 1 : 0);
        }
        if (withManifest) {
            manifestIndex = 1 + firstSolo5 + (manifestFirst || !withAbi ? 0 : 1);
        }
        notes.addAll(notesAfter);

        int phnum = 1 + notes.size();
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        long[] noteOffsets = new long[notes.size()];
        int dataStart = align8(64 + phnum * PHDR_SIZE);
        int cursor = dataStart;
        for (int i = 0; i < notes.size(); i++) {
            cursor = align8(cursor); // keeps the manifest 8-aligned in the file, as the linker does
            noteOffsets[i] = cursor;
            cursor += notes.get(i).length;
        }
        ByteBuffer image = le(cursor);
        image.put(new byte[] {0x7f, 'E', 'L', 'F', (byte) elfClass, (byte) dataEncoding, 1, 0});
        image.putShort(16, (short) elfType).putShort(18, (short) machine).putInt(20, elfVersion)
                .putLong(24, 0x100020).putLong(32, 64).putLong(40, 0).putInt(48, 0)
                .putShort(52, (short) ehsize).putShort(54, (short) phentsize).putShort(56, (short) phnum)
                .putShort(58, (short) 64).putShort(60, (short) 0).putShort(62, (short) 0);
        putPhdr(image, 0, PT_LOAD, 0, 0);
        for (int i = 0; i < notes.size(); i++) {
            putPhdr(image, i + 1, PT_NOTE, noteOffsets[i], notes.get(i).length);
            image.put((int) noteOffsets[i], notes.get(i));
        }
        return new Image(image.array(), abiIndex, manifestIndex);
    }

    private byte[] abiNote() {
        int descsz = abiDescsz != null ? abiDescsz : 16;
        ByteBuffer desc = le(Math.max(16, descsz)).putInt(abiTarget).putInt(abiVersion);
        return solo5Note(ABI1, descsz, desc.array());
    }

    private byte[] manifestNote() {
        int count = manifestEntries != null ? manifestEntries : entries.size();
        int contentSize = 4 + 8 + entries.size() * ENTRY_SIZE;
        int descsz = manifestDescsz != null ? manifestDescsz : contentSize;
        ByteBuffer desc = le(Math.max(contentSize, descsz));
        desc.position(4);
        desc.putInt(manifestVersion).putInt(count);
        for (Entry entry : entries) {
            int at = desc.position();
            desc.put(Arrays.copyOf(entry.name(), Math.min(entry.name().length, 68)));
            desc.putInt(at + 68, entry.type());
            desc.put(at + 96, (byte) entry.attached());
            desc.position(at + ENTRY_SIZE);
        }
        return solo5Note(MFT1, descsz, desc.array());
    }

    /** p_filesz will be exactly the header and the declared descriptor, like the real binaries. */
    private static byte[] solo5Note(int type, int descsz, byte[] desc) {
        ByteBuffer note = le(20 + Math.max(desc.length, descsz));
        note.putInt(6).putInt(descsz).putInt(type).put(solo5Name()).putShort((short) 0).put(desc);
        return Arrays.copyOf(note.array(), 20 + Math.max(0, descsz));
    }

    private static void putPhdr(ByteBuffer image, int index, int type, long offset, long filesz) {
        int at = 64 + index * PHDR_SIZE;
        image.putInt(at, type).putInt(at + 4, 4).putLong(at + 8, offset).putLong(at + 16, 0x100000 + offset)
                .putLong(at + 24, 0x100000 + offset).putLong(at + 32, filesz).putLong(at + 40, filesz)
                .putLong(at + 48, type == PT_NOTE ? 4 : 0x1000);
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static int align4(int n) {
        return (n + 3) & -4;
    }

    private static int align8(int n) {
        return (n + 7) & -8;
    }

    /** A built image and where its fields are, for corrupting them one at a time. */
    static final class Image {
        private byte[] bytes;
        private final int abiPhdr;
        private final int manifestPhdr;

        Image(byte[] bytes, int abiPhdr, int manifestPhdr) {
            this.bytes = bytes;
            this.abiPhdr = abiPhdr;
            this.manifestPhdr = manifestPhdr;
        }

        byte[] bytes() {
            return bytes.clone();
        }

        int size() {
            return bytes.length;
        }

        static int phdr(int index) {
            return 64 + index * PHDR_SIZE;
        }

        int abiPhdr() {
            return abiPhdr;
        }

        int manifestPhdr() {
            return manifestPhdr;
        }

        int noteOffset(int phdrIndex) {
            return (int) buffer().getLong(phdr(phdrIndex) + 8);
        }

        /** Offset of the manifest's version field (after the note header and its 4 alignment bytes). */
        int manifest() {
            return noteOffset(manifestPhdr) + 24;
        }

        int entry(int index) {
            return manifest() + 8 + index * ENTRY_SIZE;
        }

        int abiContent() {
            return noteOffset(abiPhdr) + 20;
        }

        Image putByte(int offset, int value) {
            bytes[offset] = (byte) value;
            return this;
        }

        Image putShort(int offset, int value) {
            buffer().putShort(offset, (short) value);
            return this;
        }

        Image putInt(int offset, int value) {
            buffer().putInt(offset, value);
            return this;
        }

        Image putLong(int offset, long value) {
            buffer().putLong(offset, value);
            return this;
        }

        Image truncate(int length) {
            bytes = Arrays.copyOf(bytes, length);
            return this;
        }

        private ByteBuffer buffer() {
            return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        }
    }
}
