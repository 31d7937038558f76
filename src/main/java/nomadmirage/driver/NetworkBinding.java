package nomadmirage.driver;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import nomadmirage.config.TaskConfig;
import nomadmirage.config.TaskConfig.NetDeviceConfig;
import nomadmirage.network.DeviceAttachment;
import nomadmirage.network.DeviceRequest;
import nomadmirage.network.PortForward;

/**
 * Binds a unikernel's NET_BASIC devices to what the job configured: which
 * Nomad ports go to which device (by default all of them to the default
 * device: the one named "service", else the first), static addresses and
 * MACs, and how each device's address reaches the unikernel as arguments.
 */
final class NetworkBinding {
    static final String DEFAULT_DEVICE_NAME = "service";
    static final String MIRAGE_IPV4_ARG = "--ipv4";
    static final String MIRAGE_GATEWAY_ARG = "--ipv4-gateway";

    private final List<String> devices;
    private final String defaultDevice;
    private final Map<String, NetDeviceConfig> configs;

    private NetworkBinding(List<String> devices, String defaultDevice, Map<String, NetDeviceConfig> configs) {
        this.devices = devices;
        this.defaultDevice = defaultDevice;
        this.configs = configs;
    }

    /** Checks the job's network blocks against the manifest's NET_BASIC device names. */
    static NetworkBinding of(List<String> manifestNetDevices, TaskConfig config) throws InvalidTaskException {
        Map<String, NetDeviceConfig> configs = new LinkedHashMap<>();
        for (int i = 0; i < config.networks().size(); i++) {
            NetDeviceConfig net = config.networks().get(i);
            if (!manifestNetDevices.contains(net.device())) {
                throw new InvalidTaskException("network[" + i + "].device: \"" + net.device() + "\" is not a network "
                        + "device of this unikernel; its manifest declares "
                        + (manifestNetDevices.isEmpty() ? "none" : manifestNetDevices));
            }
            configs.put(net.device(), net);
        }
        String defaultDevice = manifestNetDevices.contains(DEFAULT_DEVICE_NAME) ? DEFAULT_DEVICE_NAME
                : manifestNetDevices.isEmpty() ? null : manifestNetDevices.getFirst();
        return new NetworkBinding(List.copyOf(manifestNetDevices), defaultDevice, configs);
    }

    boolean isEmpty() {
        return devices.isEmpty();
    }

    Optional<String> defaultDevice() {
        return Optional.ofNullable(defaultDevice);
    }

    /** One request per device; every allocated port goes to exactly one device. */
    List<DeviceRequest> requests(List<TaskRequest.PortMapping> ports) throws InvalidTaskException {
        Map<String, TaskRequest.PortMapping> byLabel = new HashMap<>();
        ports.forEach(p -> byLabel.put(p.label(), p));
        Map<String, List<PortForward>> forwards = new HashMap<>();
        Set<String> claimed = new HashSet<>();
        int index = 0;
        for (NetDeviceConfig net : configs.values()) {
            if (net.ports().isPresent()) {
                for (String label : net.ports().get()) {
                    TaskRequest.PortMapping port = byLabel.get(label);
                    if (port == null) {
                        throw new InvalidTaskException("network[" + index + "].ports: \"" + label + "\" is not a port "
                                + "of this task's group; its ports are " + byLabel.keySet());
                    }
                    if (!claimed.add(label)) {
                        throw new InvalidTaskException("network[" + index + "].ports: \"" + label
                                + "\" is already forwarded to another device");
                    }
                    forwards.computeIfAbsent(net.device(), d -> new ArrayList<>()).add(forward(port));
                }
            }
            index++;
        }
        for (TaskRequest.PortMapping port : ports) {
            if (!claimed.contains(port.label()) && defaultDevice != null) {
                forwards.computeIfAbsent(defaultDevice, d -> new ArrayList<>()).add(forward(port));
            }
        }
        List<DeviceRequest> out = new ArrayList<>();
        for (String device : devices) {
            NetDeviceConfig net = configs.get(device);
            out.add(new DeviceRequest(device,
                    net == null ? Optional.empty() : net.mac(),
                    net == null ? Optional.empty() : net.address(),
                    forwards.getOrDefault(device, List.of())));
        }
        return out;
    }

    /**
     * The unikernel's arguments with each device's address added in front
     * (MirageOS' {@code --ipv4=ADDR/PREFIX --ipv4-gateway=GW} for the default
     * device unless configured otherwise); an argument the job already passes
     * is left to the job.
     */
    List<String> guestArgs(List<DeviceAttachment> attached, List<String> jobArgs) {
        List<String> out = new ArrayList<>();
        for (DeviceAttachment device : attached) {
            NetDeviceConfig net = configs.get(device.device());
            boolean isDefault = device.device().equals(defaultDevice);
            String ipv4Arg = net != null && net.ipv4Arg().isPresent() ? net.ipv4Arg().get()
                    : isDefault ? MIRAGE_IPV4_ARG : "";
            String gatewayArg = net != null && net.gatewayArg().isPresent() ? net.gatewayArg().get()
                    : isDefault ? MIRAGE_GATEWAY_ARG : "";
            addUnlessGiven(out, jobArgs, ipv4Arg, device.cidr());
            addUnlessGiven(out, jobArgs, gatewayArg, device.gateway());
        }
        out.addAll(jobArgs);
        return out;
    }

    private static void addUnlessGiven(List<String> out, List<String> jobArgs, String name, String value) {
        if (name.isEmpty() || jobArgs.stream().anyMatch(a -> a.equals(name) || a.startsWith(name + "="))) {
            return;
        }
        out.add(name + "=" + value);
    }

    private static PortForward forward(TaskRequest.PortMapping port) {
        int guest = port.to() > 0 ? port.to() : port.value();
        return new PortForward(port.label(), port.value(), guest, port.hostIp() == null ? "" : port.hostIp());
    }
}
