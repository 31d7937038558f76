package nomadmirage.driver;

import java.nio.file.Files;
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
public final class NetworkService {
    private final CommandRunner commands;
    private final Logger log;
    private NetworkManager current;

    public NetworkService(CommandRunner commands, Logger log) {
        this.commands = commands;
        this.log = log;
    }

    public synchronized NetworkManager forConfig(PluginConfig config) {
        NetworkSettings settings = new NetworkSettings(config.bridge(), config.subnet(), config.macOui(), config.mtu(),
                config.stateDir());
        if (current == null || !current.settings().equals(settings)) {
            current = NetworkManager.overCommands(settings, commands, log);
        }
        return current;
    }

    /** Whether any networked task ever ran with this state directory. */
    public static boolean inUse(PluginConfig config) {
        return Files.isDirectory(config.stateDir().resolve("network"));
    }
}
