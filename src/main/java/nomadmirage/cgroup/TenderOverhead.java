package nomadmirage.cgroup;

import nomadmirage.tender.TenderKind;

/**
 * What a tender needs besides its guest's memory, added to the cgroup's memory limit, and how many
 * threads it may run (its pids limit, with room to spare).
 *
 * <p>How the figures were arrived at (bench/cgroups.py prints the measurements again: the peak of the
 * tender's memory cgroup, memory.max_usage_in_bytes, which counts what the tender faulted in after
 * joining it):
 * <ul>
 * <li>qemu with TCG running the virtio-hello kernel halted, 128 MiB guest: 17 to 22 MiB peak over runs
 *     (16.5 MiB anonymous), 3 threads. The guest touched almost none of its memory, so this is qemu's own
 *     part; a guest that runs real code grows TCG's translation cache (lazily mapped, up to far more)
 *     and qemu adds I/O threads per device, hence 64 MiB and 64 threads. KVM needs less; one figure
 *     covers both.</li>
 * <li>solo5-hvt and solo5-spt: not installed on the test machine. They are single-threaded C programs
 *     that map the guest memory (counted as the guest's) plus their own text, page tables and (hvt)
 *     the vCPU state, about 2 MiB; 8 MiB leaves a margin. The Go stand-in that tests use peaks at
 *     about 1 MiB with 6 threads, well inside 8 MiB and 16 threads.</li>
 * </ul>
 */
public record TenderOverhead(long memoryBytes, long pidsMax) {
    private static final long MIB = 1024L * 1024;

    public static TenderOverhead of(TenderKind kind) {
        return switch (kind) {
            case SOLO5_HVT -> new TenderOverhead(8 * MIB, 16);
            case SOLO5_SPT -> new TenderOverhead(8 * MIB, 16);
            case QEMU -> new TenderOverhead(64 * MIB, 64);
        };
    }
}
