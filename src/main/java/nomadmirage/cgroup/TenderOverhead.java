package nomadmirage.cgroup;

import nomadmirage.tender.TenderKind;

/**
 * What a tender needs besides its guest's memory, added to the cgroup's memory limit, and how many
 * threads it runs (its pids limit, with room to spare).
 *
 * <p>Measured on this project's test machine (bench/cgroups.py prints the figures again):
 * the memory cgroup's {@code memory.max_usage_in_bytes} minus the guest memory, for a guest that
 * touched all of its memory. solo5-hvt maps the guest memory and adds its own text, page tables and
 * the KVM vCPU state: about 2 MiB. solo5-spt is the same program shape without KVM. qemu with TCG
 * adds its own heap, the translation-block cache (32 MiB by default for TCG) and device models:
 * 40 to 50 MiB for a small virtio guest; KVM needs less, but one figure covers both. A margin keeps
 * an allocation spike from turning into an OOM kill.
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
