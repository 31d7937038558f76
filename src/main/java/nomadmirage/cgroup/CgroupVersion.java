package nomadmirage.cgroup;

/** Which cgroup hierarchy the node uses for task limits, as Nomad decides it (a hybrid host counts as v1). */
public enum CgroupVersion {
    V1("v1"), V2("v2"), NONE("none");

    private final String attribute;

    CgroupVersion(String attribute) {
        this.attribute = attribute;
    }

    /** As published in {@code driver.mirage.cgroup}. */
    public String attribute() {
        return attribute;
    }
}
