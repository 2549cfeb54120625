/*
 * es-visual test infrastructure: runs an N-node Elasticsearch cluster in one
 * JVM, in the foreground, until the process is terminated (SIGTERM/SIGINT).
 */
package esvisual.engine;

import org.elasticsearch.Build;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.EsVisualNode;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.transport.TransportService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

public final class ClusterRunner {

    private static final List<Class<? extends Plugin>> PLUGINS = List.of(Netty4Plugin.class, RootInfoPlugin.class);

    public static void main(String[] argv) throws Exception {
        int nodes = 2;
        int httpPort = 9200;
        int transportPort = -1;
        boolean httpAll = true;
        Path home = null;
        String clusterName = "es-visual-test";
        String host = "127.0.0.1";
        Map<String, String> extra = new java.util.LinkedHashMap<>();
        for (int i = 0; i < argv.length; i++) {
            String a = argv[i];
            switch (a) {
                case "--nodes" -> nodes = Integer.parseInt(argv[++i]);
                case "--port" -> httpPort = Integer.parseInt(argv[++i]);
                case "--transport-port" -> transportPort = Integer.parseInt(argv[++i]);
                case "--home" -> home = Path.of(argv[++i]).toAbsolutePath().normalize();
                case "--cluster-name" -> clusterName = argv[++i];
                case "--host" -> host = argv[++i];
                case "--http-first-only" -> httpAll = false;
                case "--setting", "-E" -> {
                    String kv = argv[++i];
                    int eq = kv.indexOf('=');
                    if (eq <= 0) throw new IllegalArgumentException("--setting wants key=value, got " + kv);
                    extra.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
                default -> throw new IllegalArgumentException("unknown argument " + a);
            }
        }
        if (home == null) throw new IllegalArgumentException("--home DIR is required");
        if (nodes < 1) throw new IllegalArgumentException("--nodes must be >= 1");
        if (transportPort < 0) transportPort = httpPort + 100;

        Path config = home.resolve("config");
        Files.createDirectories(config);
        Files.createDirectories(home.resolve("logs"));
        Path log4j = config.resolve("log4j2.properties");
        if (Files.exists(log4j) == false) {
            Files.writeString(log4j, LOG4J);
        }

        Thread.setDefaultUncaughtExceptionHandler((t, e) -> {
            System.err.println("uncaught exception in thread [" + t.getName() + "]");
            e.printStackTrace();
            if (e instanceof Error) {
                Runtime.getRuntime().halt(1); // as the distribution does: an Error leaves the node unusable
            }
        });

        // a cluster that already formed in this home (restart): don't bootstrap again
        boolean fresh = Files.isDirectory(home.resolve("data").resolve("node-0").resolve("_state")) == false;
        List<Environment> envs = new ArrayList<>();
        StringBuilder seeds = new StringBuilder();
        List<String> names = new ArrayList<>();
        for (int i = 0; i < nodes; i++) {
            if (i > 0) seeds.append(',');
            seeds.append(host).append(':').append(transportPort + i);
            names.add("node-" + i);
        }
        for (int i = 0; i < nodes; i++) {
            Settings.Builder s = Settings.builder()
                .put("cluster.name", clusterName)
                .put("node.name", names.get(i))
                .put("path.home", home.toString())
                .put("path.data", home.resolve("data").resolve(names.get(i)).toString())
                .put("path.logs", home.resolve("logs").toString())
                .put("network.host", host)
                .put("transport.port", Integer.toString(transportPort + i))
                // test machines: never refuse shards because the disk is fuller than production watermarks
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                // several nodes share one heap: the real-memory breaker would count the others' heap
                .put("indices.breaker.total.use_real_memory", false)
                // nodes start in parallel; don't block one node's start waiting for the others
                .put("discovery.initial_state_timeout", "0s");
            if (httpAll || i == 0) {
                s.put("http.port", Integer.toString(httpPort + i));
            } else {
                s.put("http.port", Integer.toString(httpPort + 1000 + i));
            }
            if (nodes == 1) {
                s.put("discovery.type", "single-node");
            } else {
                s.put("discovery.seed_hosts", seeds.toString());
                if (fresh) {
                    // bootstrap only a new cluster; a node that already joined one warns about it (and could split)
                    s.putList("cluster.initial_master_nodes", names);
                }
            }
            extra.forEach(s::put);
            envs.add(EsVisualNode.environment(s.build(), config, names.get(i)));
        }

        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(names.get(0));
        LogConfigurator.configure(envs.get(0), true);

        long t0 = System.nanoTime();
        List<Node> started = new ArrayList<>();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("[es-visual] stopping " + started.size() + " node(s)");
            List<Node> copy;
            synchronized (started) {
                copy = new ArrayList<>(started);
            }
            // close all nodes at once: one by one, the last waits for the first's connections to time out
            List<Thread> closers = new ArrayList<>();
            for (Node node : copy) {
                Thread t = new Thread(() -> {
                    try {
                        node.close();
                        node.awaitClose(20, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        e.printStackTrace();
                    }
                }, "es-visual-close-" + node.settings().get("node.name"));
                t.start();
                closers.add(t);
            }
            for (Thread t : closers) {
                try {
                    t.join(30_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            org.apache.logging.log4j.core.LoggerContext ctx =
                (org.apache.logging.log4j.core.LoggerContext) org.apache.logging.log4j.LogManager.getContext(false);
            ctx.stop();
            stopped.countDown();
        }, "es-visual-shutdown"));

        List<Node> built = new ArrayList<>();
        for (Environment env : envs) {
            Node node = new EsVisualNode(env, PLUGINS);
            built.add(node);
            synchronized (started) {
                started.add(node);
            }
        }
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> starters = new ArrayList<>();
        for (Node node : built) {
            Thread t = new Thread(() -> {
                try {
                    node.start();
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "es-visual-start-" + node.settings().get("node.name"));
            t.start();
            starters.add(t);
        }
        for (Thread t : starters) t.join();
        if (failure.get() != null) {
            System.err.println("[es-visual] a node failed to start");
            failure.get().printStackTrace();
            System.exit(1);
        }
        for (Node node : built) {
            var http = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress();
            var transport = node.injector().getInstance(TransportService.class).boundAddress().publishAddress();
            System.out.println("[es-visual] " + node.settings().get("node.name") + " http=" + http + " transport=" + transport);
        }
        System.out.printf(
            "[es-visual] Elasticsearch %s started %d node(s) in %.1f s (java %s); http://%s:%d%n",
            Build.current().version(),
            built.size(),
            (System.nanoTime() - t0) / 1e9,
            Runtime.version(),
            host,
            httpPort
        );
        stopped.await();
    }

    private static final String LOG4J = """
        status = error
        appender.console.type = Console
        appender.console.name = console
        appender.console.layout.type = PatternLayout
        appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%t] %m%n
        rootLogger.level = info
        rootLogger.appenderRef.console.ref = console
        # chatty at info on a small test cluster
        logger.deprecation.name = org.elasticsearch.deprecation
        logger.deprecation.level = error
        """;

    private ClusterRunner() {}
}
