package nomadmirage.nomad;

import io.grpc.stub.StreamObserver;
import nomadmirage.config.ConfigException;
import nomadmirage.config.PluginConfig;
import nomadmirage.config.PluginConfigParser;
import nomadmirage.driver.MirageDriver;
import nomadmirage.log.Logger;
import nomadmirage.proto.base.BasePluginGrpc;
import nomadmirage.proto.base.ConfigSchemaRequest;
import nomadmirage.proto.base.ConfigSchemaResponse;
import nomadmirage.proto.base.PluginInfoRequest;
import nomadmirage.proto.base.PluginInfoResponse;
import nomadmirage.proto.base.PluginType;
import nomadmirage.proto.base.SetConfigRequest;
import nomadmirage.proto.base.SetConfigResponse;

/** Nomad's BasePlugin service: who we are, our config schema, and SetConfig. */
public final class BasePluginService extends BasePluginGrpc.BasePluginImplBase {
    /** The plugin name jobs use in {@code driver = "..."}. */
    public static final String DRIVER_NAME = "mirage";
    /** The only driver API version Nomad speaks. */
    public static final String DRIVER_API_VERSION = "v0.1.0";

    private final MirageDriver driver;
    private final String pluginVersion;
    private final Logger log;

    public BasePluginService(MirageDriver driver, String pluginVersion, Logger log) {
        this.driver = driver;
        this.pluginVersion = pluginVersion;
        this.log = log;
    }

    @Override
    public void pluginInfo(PluginInfoRequest request, StreamObserver<PluginInfoResponse> response) {
        response.onNext(PluginInfoResponse.newBuilder()
                .setType(PluginType.DRIVER)
                .addPluginApiVersions(DRIVER_API_VERSION)
                .setPluginVersion(pluginVersion)
                .setName(DRIVER_NAME)
                .build());
        response.onCompleted();
    }

    @Override
    public void configSchema(ConfigSchemaRequest request, StreamObserver<ConfigSchemaResponse> response) {
        response.onNext(ConfigSchemaResponse.newBuilder().setSpec(PluginConfigSchema.spec()).build());
        response.onCompleted();
    }

    @Override
    public void setConfig(SetConfigRequest request, StreamObserver<SetConfigResponse> response) {
        if (!request.getPluginApiVersion().isEmpty()
                && !request.getPluginApiVersion().replaceFirst("^v", "").equals(DRIVER_API_VERSION.substring(1))) {
            response.onError(ErrorTable.invalidConfig("plugin_api_version \"" + request.getPluginApiVersion()
                    + "\" is not supported; this plugin implements " + DRIVER_API_VERSION));
            return;
        }
        PluginConfig config;
        try {
            config = PluginConfigParser.parse(CtyMsgpack.decodeObject(request.getMsgpackConfig().toByteArray()));
        } catch (ConfigException e) {
            log.error("invalid plugin configuration", "field", e.field(), "error", e.getMessage());
            response.onError(ErrorTable.invalidConfig("invalid mirage plugin config: " + e.getMessage()));
            return;
        } catch (CtyDecodeException e) {
            response.onError(ErrorTable.invalidConfig("invalid mirage plugin config: " + e.getMessage()));
            return;
        }
        driver.configure(config);
        response.onNext(SetConfigResponse.getDefaultInstance());
        response.onCompleted();
    }
}
