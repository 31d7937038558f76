package nomadmirage.goplugin;

import io.grpc.stub.StreamObserver;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import nomadmirage.proto.goplugin.ConnInfo;
import nomadmirage.proto.goplugin.GRPCBrokerGrpc;

/**
 * go-plugin's GRPCBroker. The host opens the stream on connect; Nomad's driver
 * protocol never brokers extra connections, so we accept the stream, ignore
 * what arrives and close our side when the host closes its side.
 */
final class BrokerService extends GRPCBrokerGrpc.GRPCBrokerImplBase {
    private final Set<StreamObserver<ConnInfo>> open = ConcurrentHashMap.newKeySet();

    @Override
    public StreamObserver<ConnInfo> startStream(StreamObserver<ConnInfo> toHost) {
        open.add(toHost);
        return new StreamObserver<>() {
            @Override
            public void onNext(ConnInfo info) {
                // no brokered services are offered
            }

            @Override
            public void onError(Throwable t) {
                open.remove(toHost);
            }

            @Override
            public void onCompleted() {
                if (open.remove(toHost)) {
                    toHost.onCompleted();
                }
            }
        };
    }

    /** Ends every open stream from our side; the plugin is stopping. */
    void closeAll() {
        for (StreamObserver<ConnInfo> stream : open) {
            try {
                stream.onCompleted();
            } catch (RuntimeException alreadyClosed) {
                // the host went away first
            }
        }
        open.clear();
    }
}
