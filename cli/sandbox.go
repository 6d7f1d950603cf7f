package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/relay-dev/relay/sandbox"
	"github.com/relay-dev/relay/triggers/verify"
)

// sandboxFlags configure the partner sandbox, alone or inside relay dev.
type sandboxFlags struct {
	addr, smtpAddr string
	faults         sandbox.Faults
}

func (s *sandboxFlags) register(cmd *cobra.Command, prefix string) {
	f := cmd.Flags()
	f.StringVar(&s.addr, prefix+"addr", sandbox.DefaultHTTPAddr, "partner sandbox HTTP address (the bundled flows call "+sandbox.DefaultHTTPAddr+")")
	f.StringVar(&s.smtpAddr, prefix+"smtp-addr", sandbox.DefaultSMTPAddr, "partner sandbox SMTP address (the bundled flows send to "+sandbox.DefaultSMTPAddr+")")
	f.Float64Var(&s.faults.ErrorRate, prefix+"error-rate", 0, "fraction of requests answered 500")
	f.Float64Var(&s.faults.RateLimitRate, prefix+"rate-limit-rate", 0, "fraction of requests answered 429")
	f.DurationVar(&s.faults.RetryAfter, prefix+"retry-after", time.Second, "Retry-After of injected 429s")
	f.DurationVar(&s.faults.Latency, prefix+"latency", 0, "latency added to every request")
	f.Float64Var(&s.faults.ResetRate, prefix+"reset-rate", 0, "fraction of connections reset")
	f.Float64Var(&s.faults.AfterEffectRate, prefix+"after-effect-rate", 0, "fraction answered 500 after the change was applied")
}

// start starts the sandbox; its webhooks go to relayURL, to the paths
// given (nil: every path).
func (s *sandboxFlags) start(relayURL string, paths []string, a *app) (*sandbox.Running, error) {
	return sandbox.Start(sandbox.Options{
		Faults:        s.faults,
		WebhookURL:    relayURL,
		WebhookPaths:  paths,
		WebhookSecret: os.Getenv("STRIPE_WEBHOOK_SECRET"),
		Logger:        a.logger().With("component", "sandbox"),
	}, s.addr, s.smtpAddr)
}

// setDevCredentials sets the sandbox credentials the bundled flows read,
// where the environment does not set them, and lists the ones it set.
func setDevCredentials() []string {
	var set []string
	for name, value := range sandbox.DevCredentials {
		if _, ok := os.LookupEnv(name); !ok {
			os.Setenv(name, value)
			set = append(set, name)
		}
	}
	sort.Strings(set)
	return set
}

func (a *app) sandboxCommand() *cobra.Command {
	var (
		sf       sandboxFlags
		relayURL string
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the partner sandbox: simulated CRM, ERP, payment, logistics and notification APIs",
		Long: `Run simulated partner APIs on 127.0.0.1 with in-memory state: HubSpot
(/hubspot), ERPNext (/erpnext), Stripe (/stripe), EasyPost (/easypost),
Slack (/slack) and an SMTP server. They honour Idempotency-Key where the
partner does (Stripe, EasyPost) and ignore it where it does (HubSpot,
ERPNext, Slack), count every side effect, inject faults on demand (flags,
or the X-Sandbox-Fault request header) and post signed webhooks back to
relay. relay dev runs one itself.`,
		Example: "  relay sandbox --error-rate 0.3 --rate-limit-rate 0.1 --retry-after 120s\n  relay sandbox stats",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			setDevCredentials()
			sb, err := sf.start(relayURL, nil, a)
			if err != nil {
				return err
			}
			defer sb.Stop()
			fmt.Fprintf(a.stdout, "relay sandbox on http://%s (SMTP %s), webhooks to %s\n", sb.HTTPAddr(), sb.SMTPAddr(), relayURL)
			<-cmd.Context().Done()
			return nil
		},
	}
	sf.register(cmd, "")
	cmd.Flags().StringVar(&relayURL, "webhook-url", "http://127.0.0.1:8080", "relay's HTTP address, where partner webhooks are posted")
	cmd.AddCommand(a.sandboxStatsCommand(), a.sandboxOrderCommand())
	return cmd
}

func (a *app) sandboxStatsCommand() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Print the sandbox's side-effect counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := http.Get("http://" + addr + "/_sandbox/stats")
			if err != nil {
				return fmt.Errorf("reading sandbox stats: %w", err)
			}
			defer resp.Body.Close()
			var st sandbox.Stats
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				return fmt.Errorf("reading sandbox stats: %w", err)
			}
			return a.print(st, func(w io.Writer) {
				names := make([]string, 0, len(st.Counts))
				for n := range st.Counts {
					names = append(names, n)
				}
				sort.Strings(names)
				tw := tabwriter.NewWriter(w, 0, 2, 2, ' ', 0)
				fmt.Fprintln(tw, "COUNTER\tVALUE")
				for _, n := range names {
					fmt.Fprintf(tw, "%s\t%d\n", n, st.Counts[n])
				}
				tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&addr, "addr", sandbox.DefaultHTTPAddr, "the sandbox's HTTP address")
	return cmd
}

func (a *app) sandboxOrderCommand() *cobra.Command {
	var relayURL, id, email string
	cmd := &cobra.Command{
		Use:   "order",
		Short: "Send a signed sample order.created webhook, as the shop would, to relay",
		Example: `  relay sandbox order
  relay sandbox order --id order-1001 --email grace@example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			setDevCredentials()
			if id == "" {
				id = fmt.Sprintf("order-%d", time.Now().Unix())
			}
			body := sandbox.SampleOrder(id, email)
			h, err := verify.Sign(verify.Config{Scheme: "standard_webhooks", Secrets: []string{os.Getenv("SHOP_WEBHOOK_SECRET")}}, body, time.Now(), "msg_"+id)
			if err != nil {
				return fmt.Errorf("signing the sample order: %w", err)
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, relayURL+sandbox.ShopOrderPath, bytes.NewReader(body))
			if err != nil {
				return err
			}
			for k, vs := range h {
				req.Header[k] = vs
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("posting the sample order to %s: %w", relayURL, err)
			}
			defer resp.Body.Close()
			var answer map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&answer)
			if err := a.print(answer, func(w io.Writer) {
				fmt.Fprintf(w, "%s %s: %d %v\n", sandbox.ShopOrderPath, id, resp.StatusCode, answer["status"])
				if wid, ok := answer["workflow_id"]; ok {
					fmt.Fprintf(w, "run: %v\nfollow it: relay runs show %v\n", wid, wid)
				}
			}); err != nil {
				return err
			}
			if resp.StatusCode >= 300 {
				return fmt.Errorf("relay answered %d", resp.StatusCode)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&relayURL, "relay", "http://127.0.0.1:8080", "relay's HTTP address")
	cmd.Flags().StringVar(&id, "id", "", "the order ID (default order-<unix time>); the same ID is the same order")
	cmd.Flags().StringVar(&email, "email", "ada@example.com", "the customer's email")
	return cmd
}
