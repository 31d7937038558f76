package nomadmirage.network;

/** The iptables chains this plugin owns, each jumped to from one built-in chain. */
public enum Chain {
    PRE("nat", "NOMAD_MG_PRE", "PREROUTING"),
    OUT("nat", "NOMAD_MG_OUT", "OUTPUT"),
    POST("nat", "NOMAD_MG_POST", "POSTROUTING"),
    FWD("filter", "NOMAD_MG_FWD", "FORWARD"),
    IN("filter", "NOMAD_MG_IN", "INPUT");

    private final String table;
    private final String chainName;
    private final String parent;

    Chain(String table, String chainName, String parent) {
        this.table = table;
        this.chainName = chainName;
        this.parent = parent;
    }

    public String table() {
        return table;
    }

    public String chainName() {
        return chainName;
    }

    /** The built-in chain that jumps here. */
    public String parent() {
        return parent;
    }

    static boolean isOurs(String table, String chainName) {
        for (Chain chain : values()) {
            if (chain.table.equals(table) && chain.chainName.equals(chainName)) {
                return true;
            }
        }
        return false;
    }
}
