package nomadmirage.cgroup;

/** The controllers a tender's limits and stats use; the name is the v1 hierarchy's and the v2 controller's. */
public enum Controller {
    CPU("cpu"), CPUACCT("cpuacct"), CPUSET("cpuset"), MEMORY("memory"), PIDS("pids");

    private final String kernelName;

    Controller(String kernelName) {
        this.kernelName = kernelName;
    }

    public String kernelName() {
        return kernelName;
    }
}
