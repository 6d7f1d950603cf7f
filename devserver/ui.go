package devserver

import (
	"fmt"
	"log/slog"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// webUI is a running Temporal Web UI server.
type webUI struct {
	server *uiserver.Server
	done   chan struct{}
}

// startUI starts the Web UI on ip:port in the background. The caller waits
// for the port to answer.
func startUI(ip string, port int, frontend, namespace, codecEndpoint string, logger *slog.Logger) (*webUI, error) {
	// ui-server exits the process when it cannot bind, so check first.
	if err := checkPortFree(ip, port); err != nil {
		return nil, fmt.Errorf("ui port %d is not free: %w", port, err)
	}
	cfg := &uiconfig.Config{
		Host:                ip,
		Port:                port,
		TemporalGRPCAddress: frontend,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
		Codec:               uiconfig.Codec{Endpoint: codecEndpoint},
	}
	ui := &webUI{server: uiserver.NewServer(uioptions.WithConfigProvider(cfg)), done: make(chan struct{})}
	go func() {
		defer close(ui.done)
		if err := ui.server.Start(); err != nil {
			logger.Error("web ui stopped", "error", err)
		}
	}()
	return ui, nil
}

func (u *webUI) stop() {
	u.server.Stop()
	<-u.done
}
