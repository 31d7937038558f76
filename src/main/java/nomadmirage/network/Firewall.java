package nomadmirage.network;

import java.util.List;

/** The host's packet filter, as far as this plugin's chains go. */
public interface Firewall {
    /** Creates our chains if missing and makes each built-in parent jump to its chain exactly once. */
    void ensureChains() throws NetworkSetupException;

    /** The rules currently in our chains. */
    List<SavedRule> rules() throws NetworkSetupException;

    /** Applies a batch atomically ({@code iptables-restore --noflush}); nothing of it is applied on failure. */
    void apply(RuleBatch batch) throws NetworkSetupException;
}
