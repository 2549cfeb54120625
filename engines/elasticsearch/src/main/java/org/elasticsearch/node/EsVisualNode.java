/*
 * es-visual test infrastructure. Lives in org.elasticsearch.node only because
 * NodeConstruction and NodeServiceProvider are package-private; the classes run
 * from the classpath (no module layer), so the split package is allowed.
 */
package org.elasticsearch.node;

import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.nio.file.Path;
import java.util.Collection;
import java.util.Collections;

/**
 * A production {@link Node} (same construction as the distribution's
 * {@code Elasticsearch#initPhase3}, without bootstrap checks) whose plugins are
 * classes on the classpath (e.g. transport-netty4's Netty4Plugin) instead of
 * bundles under {@code modules/}. Nothing is mocked: transport, HTTP, search,
 * big arrays and the rest are the real services.
 */
public class EsVisualNode extends Node {

    public EsVisualNode(Environment environment, Collection<Class<? extends Plugin>> classpathPlugins) {
        super(NodeConstruction.prepareConstruction(environment, null, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader pluginsLoader) {
                return new MockPluginsService(env.settings(), env, classpathPlugins);
            }
        }, true));
    }

    /** Settings + config dir to an Environment, the way the distribution prepares it. */
    public static Environment environment(Settings settings, Path configDir, String defaultNodeName) {
        return InternalSettingsPreparer.prepareEnvironment(settings, Collections.emptyMap(), configDir, () -> defaultNodeName);
    }

    @Override
    protected void configureNodeAndClusterIdStateListener(ClusterService clusterService) {
        // A JVM-wide SetOnce (node/cluster id in JSON logs): it throws for the
        // second node in the same JVM, and plain-text logs don't use it.
    }
}
