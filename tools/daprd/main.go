// Command daprd is a slim build of the Dapr sidecar (daprd) for the nested
// edge. Upstream daprd registers every component behind the
// `allcomponents`/`stablecomponents` build tags; building that pulls in
// hundreds of cloud SDKs. This wrapper is built WITHOUT those tags, so
// dapr's own cmd/daprd/components package contributes nothing, and we
// register only the components this project's manifests use.
//
// Build it ONLY with tools/build-daprd.sh (pinned version, ldflags, cache):
// without those tags dapr's cmd/daprd/components/zz_notag.go panics at init
// on purpose, and the script builds against a copy of the dapr module in
// which that one guard file is reduced to its package clause. A plain
// `go build`/`go run` here compiles but the binary panics at start.
package main

import (
	"github.com/dapr/dapr/cmd/daprd/app"
	"github.com/dapr/dapr/pkg/components"
	bindingsLoader "github.com/dapr/dapr/pkg/components/bindings"
	nrLoader "github.com/dapr/dapr/pkg/components/nameresolution"
	pubsubLoader "github.com/dapr/dapr/pkg/components/pubsub"
	secretstoresLoader "github.com/dapr/dapr/pkg/components/secretstores"
	stateLoader "github.com/dapr/dapr/pkg/components/state"
	"github.com/dapr/kit/logger"

	"github.com/dapr/components-contrib/bindings"
	"github.com/dapr/components-contrib/bindings/azure/eventhubs"
	pgbinding "github.com/dapr/components-contrib/bindings/postgres"
	nrkubernetes "github.com/dapr/components-contrib/nameresolution/kubernetes"
	mqtt3 "github.com/dapr/components-contrib/pubsub/mqtt3"
	secretkubernetes "github.com/dapr/components-contrib/secretstores/kubernetes"
	"github.com/dapr/components-contrib/secretstores/local/env"
	"github.com/dapr/components-contrib/secretstores/local/file"
	pgstatev1 "github.com/dapr/components-contrib/state/postgresql/v1"
	pgstatev2 "github.com/dapr/components-contrib/state/postgresql/v2"
)

func init() {
	// pubsub.mqtt3 (alias pubsub.mqtt): the brokers at every ISA-95 level.
	pubsubLoader.DefaultRegistry.RegisterComponent(mqtt3.NewMQTTPubSub, "mqtt3", "mqtt")

	// bindings.postgresql (output only, as upstream).
	bindingsLoader.DefaultRegistry.RegisterOutputBinding(pgbinding.NewPostgres, "postgresql", "postgres")

	// state.postgresql: v1 is the default, v2 selectable with `version: v2`.
	// Costs nothing extra: same pgx driver as the binding.
	pgState := components.Versioning{
		Preferred: components.VersionConstructor{Version: "v2", Constructor: pgstatev2.NewPostgreSQLStateStore},
		Others:    []components.VersionConstructor{{Version: "v1", Constructor: pgstatev1.NewPostgreSQLStateStore}},
		Default:   "v1",
	}
	stateLoader.DefaultRegistry.RegisterComponentWithVersions("postgresql", pgState)
	stateLoader.DefaultRegistry.RegisterComponentWithVersions("postgres", pgState)

	// bindings.azure.eventhubs (input + output): the cloud uplink. Adds ~40
	// packages (azeventhubs, go-amqp, azblob checkpoints), ~10-20 s cold.
	bindingsLoader.DefaultRegistry.RegisterInputBinding(func(l logger.Logger) bindings.InputBinding {
		return eventhubs.NewAzureEventHubs(l)
	}, "azure.eventhubs")
	bindingsLoader.DefaultRegistry.RegisterOutputBinding(func(l logger.Logger) bindings.OutputBinding {
		return eventhubs.NewAzureEventHubs(l)
	}, "azure.eventhubs")

	// secretstores.local.file / secretstores.local.env.
	secretstoresLoader.DefaultRegistry.RegisterComponent(file.NewLocalSecretStore, "local.file")
	secretstoresLoader.DefaultRegistry.RegisterComponent(env.NewEnvSecretStore, "local.env")

	// In Kubernetes mode daprd always loads the built-in `kubernetes` secret store and resolves
	// app ids through the `kubernetes` name resolver: without them an injected sidecar exits.
	secretstoresLoader.DefaultRegistry.RegisterComponent(secretkubernetes.NewKubernetesSecretStore, "kubernetes")
	nrLoader.DefaultRegistry.RegisterComponent(nrkubernetes.NewResolver, "kubernetes")
}

func main() {
	app.Run()
}
