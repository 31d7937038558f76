package nomadmirage.driver;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import nomadmirage.network.Attachment;
import nomadmirage.network.DeviceRequest;
import nomadmirage.network.GroupNetwork;
import nomadmirage.network.InvalidNetworkRequestException;
import nomadmirage.network.NetworkSetupException;
import nomadmirage.network.NetworkTeardown;
import nomadmirage.network.ReconcileReport;
import nomadmirage.network.StartPath;
import nomadmirage.proc.TaskUser;
import nomadmirage.state.StateDirectory;
import nomadmirage.config.PluginConfig;
import nomadmirage.log.Logger;
import nomadmirage.network.NetworkManager;
import nomadmirage.network.NetworkSettings;
import nomadmirage.proc.CommandRunner;

/**
 * The node's {@link NetworkManager} for the current plugin configuration. Host
 * networking (bridge, chains) is set up by the first task that needs it, so a
 * plugin that runs no networked task never touches the host's network.
 */
public final class NetworkService implements TaskNetworks {
    private final CommandRunner commands;
    private final Optional<StartPath> startPath;
    private final Logger log;
    private NetworkManager current;

    public NetworkService(CommandRunner commands, Logger log) {
        this(commands, Optional.empty(), log);
    }

    /** @param startPath what makes taps and pins on the start path (else the {@code ip} and {@code nft} tools) */
    public NetworkService(CommandRunner commands, Optional<StartPath> startPath, Logger log) {
        this.commands = commands;
        this.startPath = startPath;
        this.log = log;
    }

    public synchronized NetworkManager forConfig(PluginConfig config) {
        NetworkSettings settings = new NetworkSettings(config.bridge(), config.subnet(), config.macOui(), config.mtu(),
                config.stateDir(), config.isolateTasks());
        if (current == null || !current.settings().equals(settings)) {
            current = startPath.isPresent() ? NetworkManager.overCommands(settings, commands, startPath.get(), log)
                    : NetworkManager.overCommands(settings, commands, log);
        }
        return current;
    }

    @Override
    public Attachment attach(PluginConfig plugin, String taskId, Optional<TaskUser> user, List<DeviceRequest> devices)
            throws InvalidNetworkRequestException, NetworkSetupException {
        return forConfig(plugin).attach(taskId, user.map(u -> OptionalInt.of(u.uid())).orElse(OptionalInt.empty()),
                user.map(u -> OptionalInt.of(u.gid())).orElse(OptionalInt.empty()), devices);
    }

    @Override
    public Attachment attachGroup(PluginConfig plugin, java.nio.file.Path netns, String taskId,
            Optional<TaskUser> user, List<DeviceRequest> devices) throws InvalidNetworkRequestException,
            NetworkSetupException {
        return group(plugin).attach(netns, taskId, user.map(u -> OptionalInt.of(u.uid())).orElse(OptionalInt.empty()),
                user.map(u -> OptionalInt.of(u.gid())).orElse(OptionalInt.empty()), devices);
    }

    @Override
    public void detachGroup(PluginConfig plugin, java.nio.file.Path netns, NetworkTeardown teardown)
            throws NetworkSetupException {
        group(plugin).detach(netns, teardown);
    }

    private GroupNetwork group(PluginConfig plugin) {
        return new GroupNetwork(commands, new StateDirectory(plugin.stateDir()).networkDir(), plugin.macOui(),
                plugin.mtu(), log);
    }

    @Override
    public void detach(PluginConfig plugin, NetworkTeardown teardown) throws NetworkSetupException {
        forConfig(plugin).detach(teardown);
    }

    @Override
    public CompletableFuture<Void> release(PluginConfig plugin, NetworkTeardown teardown) throws NetworkSetupException {
        return forConfig(plugin).release(teardown);
    }

    @Override
    public void awaitReleases(Duration limit) throws InterruptedException {
        NetworkManager manager;
        synchronized (this) {
            manager = current;
        }
        if (manager != null) {
            manager.awaitReleases(limit);
        }
    }

    @Override
    public Optional<ReconcileReport> reconcile(PluginConfig plugin, Set<String> keep) throws NetworkSetupException {
        if (!new StateDirectory(plugin.stateDir()).networkInUse()) {
            return Optional.empty();
        }
        return Optional.of(forConfig(plugin).reconcile(keep));
    }
}
