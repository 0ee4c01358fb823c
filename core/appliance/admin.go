package appliance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"bulwark/core/admin"
	"bulwark/core/adminapi"
	"bulwark/core/alerts"
	"bulwark/core/clients"
	"bulwark/core/pki"
)

// AddAdminPlane builds the alert engine and the mutual-TLS admin API on the appliance's bus
// and store and adds both as components. svc carries the subsystems the API exposes
// (apps, bans, lists, policies, settings); the ones left nil answer 501 until wired.
// Call it after New and before Serve.
func (a *Appliance) AddAdminPlane(ca *pki.CA, svc admin.Services) (*admin.Server, error) {
	reg, err := clients.Open(a.Config.Data, ca)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	eng, err := alerts.New(context.Background(), alerts.Options{Store: alerts.DBStore{DB: a.Store}, Logger: a.Log.With("component", "alerts"), Sink: a.Events, Hostname: host})
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	a.Add(alerts.Component{Engine: eng, Sub: a.Events.Subscribe("alerts", 1<<14)})
	if svc.Alerts == nil {
		svc.Alerts = eng
	}
	if svc.Events == nil {
		svc.Events = admin.DBEvents{DB: a.Store}
	}
	if svc.Policies == nil {
		svc.Policies = admin.PolicyDocs(a.Config)
	}
	if svc.Settings == nil {
		svc.Settings = admin.SettingsDocs(a.Config)
	}
	if svc.Lists == nil {
		svc.Lists = admin.ConfigLists{Allow: a.Config.Guard.Allow, Deny: a.Config.Guard.Deny}
	}
	prev := svc.Status
	svc.Status = func(ctx context.Context, st *adminapi.Status) {
		if a.Server != nil {
			st.Listeners = append(st.Listeners, adminapi.Listener{Name: "https", Addr: a.Server.Addr().String()})
			if h := a.Server.HTTPAddr(); h != nil {
				st.Listeners = append(st.Listeners, adminapi.Listener{Name: "http", Addr: h.String()})
			}
		}
		if prev != nil {
			prev(ctx, st)
		}
	}
	svc.Metrics = append(svc.Metrics, func() []admin.Metric {
		st := a.Writer.Stats()
		return []admin.Metric{
			{Name: "bulwark_store_events_written_total", Help: "Events committed to the store.", Type: "counter", Value: float64(st.Written)},
			{Name: "bulwark_store_events_dropped_total", Help: "Events the store writer's full queue dropped.", Type: "counter", Value: float64(st.Dropped)},
			{Name: "bulwark_store_events_failed_total", Help: "Events lost to a failed transaction.", Type: "counter", Value: float64(st.Failed)},
			{Name: "bulwark_store_queue_depth", Help: "Events waiting for the store writer.", Type: "gauge", Value: float64(st.Queued)},
		}
	})
	srv, err := admin.New(admin.Options{
		Config: a.Config.Admin, DataDir: a.Config.Data, CA: ca, Clients: reg,
		Audit: admin.DBAudit{DB: a.Store}, Bus: a.Events, Sink: a.Events,
		Logger: a.Log.With("component", "admin"), Services: svc,
		FirstBundle: filepath.Join(a.Config.Data, "admin.bundle"),
	})
	if err != nil {
		return nil, err
	}
	a.Add(srv)
	return srv, nil
}
