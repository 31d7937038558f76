package nomadmirage.driver;

/** The driver's health as Nomad understands it: only HEALTHY nodes get tasks. */
public enum Health {
    UNDETECTED, UNHEALTHY, HEALTHY
}
