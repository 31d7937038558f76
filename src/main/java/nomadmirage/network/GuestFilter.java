package nomadmirage.network;

import java.util.List;
import nomadmirage.config.Ipv4Cidr;

/**
 * What guests may send into the bridge. Frames from a pinned tap pass only with the tap's own MAC as
 * source, and only as IPv4 from its own address or ARP naming that MAC and address; nothing from a
 * tap reaches a link-local address (169.254.0.0/16). With isolation, a tap reaches no other tap
 * except through a published port. Links that are no pinned tap are not filtered.
 */
public interface GuestFilter {
    /** Creates the filter if missing and sets its rules for this subnet and isolation setting; idempotent. */
    void ensure(Ipv4Cidr subnet, boolean isolateTasks) throws NetworkSetupException;

    /** Pins each tap, all in one change; pinning a tap again with the same values changes nothing. */
    void pin(List<Pin> pins) throws NetworkSetupException;

    /** Removes these pins, all in one change; a pin that is not there counts as removed. */
    void unpin(List<Pin> pins) throws NetworkSetupException;

    /** The pins present (none when the filter was never set up). */
    List<Pin> pins() throws NetworkSetupException;
}
