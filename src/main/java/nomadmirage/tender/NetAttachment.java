package nomadmirage.tender;

/** A manifest NET_BASIC device bound to a host tap, with the guest's MAC address. */
public record NetAttachment(String device, String tap, String mac) {
}
