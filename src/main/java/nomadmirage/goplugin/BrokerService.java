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
    @Override
    public StreamObserver<ConnInfo> startStream(StreamObserver<ConnInfo> toHost) {
        return new StreamObserver<>() {
            @Override
            public void onNext(ConnInfo info) {
                // no brokered services are offered
            }

            @Override
            public void onError(Throwable t) {
                // the host went away; nothing to clean up
            }

            @Override
            public void onCompleted() {
                toHost.onCompleted();
            }
        };
    }
}
