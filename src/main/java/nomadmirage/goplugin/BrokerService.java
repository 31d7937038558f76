package nomadmirage.goplugin;

import io.grpc.stub.StreamObserver;
import nomadmirage.proto.goplugin.ConnInfo;
import nomadmirage.proto.goplugin.GRPCBrokerGrpc;

/**
 * go-plugin's GRPCBroker. The host opens the stream on connect; Nomad's driver
 * protocol never brokers extra connections, so we accept the stream, ignore
 * what arrives and close our side when the host closes its side.
 */
final class BrokerService extends GRPCBrokerGrpc.GRPCBrokerImplBase {
    private final OpenStreams open = new OpenStreams();

    @Override
    public StreamObserver<ConnInfo> startStream(StreamObserver<ConnInfo> toHost) {
        ServerStream<ConnInfo> stream = open.track(ServerStream.of(toHost));
        return new StreamObserver<>() {
            @Override
            public void onNext(ConnInfo info) {
                // no brokered services are offered
            }

            @Override
            public void onError(Throwable t) {
                stream.complete();
            }

            @Override
            public void onCompleted() {
                stream.complete();
            }
        };
    }

    /** Ends every open stream from our side; the plugin is stopping. */
    void closeAll() {
        open.completeAll();
    }
}
