/*
 * es-visual test infrastructure.
 */
package esvisual.engine;

import org.elasticsearch.Build;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.ClusterState;
import org.elasticsearch.cluster.metadata.Metadata;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.index.IndexVersion;
import org.elasticsearch.rest.BaseRestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.xcontent.XContentBuilder;

import java.util.List;
import java.util.function.Supplier;

/**
 * {@code GET /} and {@code HEAD /}: the node/cluster/version banner.
 *
 * <p>The distribution serves it from its {@code rest-root} module, which is not
 * published on Maven Central; without it {@code GET /} answers 405. Clients need
 * it (elasticsearch-py {@code info()}/{@code ping()}, version checks), so this
 * handler writes the same document from the live node: {@link Build#current()}
 * (read from the server jar's manifest), the Lucene version of
 * {@link IndexVersion#current()} and the node's applied cluster state. It is
 * our own code, not a copy of the module.
 */
public final class RootInfoHandler extends BaseRestHandler {

    private final String nodeName;
    private final Supplier<ClusterService> clusterService;

    public RootInfoHandler(String nodeName, Supplier<ClusterService> clusterService) {
        this.nodeName = nodeName;
        this.clusterService = clusterService;
    }

    @Override
    public String getName() {
        return "main_action";
    }

    @Override
    public List<Route> routes() {
        return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
    }

    @Override
    public boolean canTripCircuitBreaker() {
        return false;
    }

    @Override
    protected RestChannelConsumer prepareRequest(RestRequest request, NodeClient client) {
        return channel -> {
            ClusterState state = clusterService.get().state();
            Metadata metadata = state.metadata();
            Build build = Build.current();
            XContentBuilder b = channel.newBuilder();
            if (request.hasParam("pretty") == false) {
                b.prettyPrint().lfAtEnd(); // as the distribution: pretty unless ?pretty=false
            }
            b.startObject();
            b.field("name", nodeName);
            b.field("cluster_name", state.getClusterName().value());
            b.field("cluster_uuid", metadata.clusterUUIDCommitted() ? metadata.clusterUUID() : Metadata.UNKNOWN_CLUSTER_UUID);
            b.startObject("version")
                .field("number", build.qualifiedVersion())
                .field("build_flavor", "default")
                .field("build_type", build.type().displayName())
                .field("build_hash", build.hash())
                .field("build_date", build.date())
                .field("build_snapshot", build.isSnapshot())
                .field("lucene_version", IndexVersion.current().luceneVersion().toString())
                .field("minimum_wire_compatibility_version", build.minWireCompatVersion())
                .field("minimum_index_compatibility_version", build.minIndexCompatVersion())
                .endObject();
            b.field("tagline", "You Know, for Search");
            b.endObject();
            channel.sendResponse(new RestResponse(RestStatus.OK, b));
        };
    }
}
