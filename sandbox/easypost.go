package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// EasyPost, under /easypost: shipments with rates, label purchase,
// trackers and refunds, shaped like API v2. Any key that looks like an
// EasyPost key (EZTK…, EZAK…) authenticates, as a bearer token or as either
// half of basic auth. A purchase posts a tracker.updated event to
// /hooks/easypost, signed like EasyPost signs: header X-Hmac-Signature with
// hmac-sha256-hex=<hex HMAC-SHA256 of the body keyed with the webhook secret>.
//
// Counters: easypost.shipments.created, easypost.shipments.bought,
// easypost.shipments.refunded.

// EasyPostSignatureHeader carries the signature of EasyPost webhooks.
const EasyPostSignatureHeader = "X-Hmac-Signature"

const (
	epShipments = "easypost.shipments"
	epTrackers  = "easypost.trackers"
)

func (s *Server) easypostRoutes() {
	s.addIndex(epTrackers, "tracking_code", stringKey("tracking_code"))
	s.mux.HandleFunc("POST /easypost/v2/shipments", s.easypostAuth(s.easypostCreateShipment))
	s.mux.HandleFunc("GET /easypost/v2/shipments/{id}", s.easypostAuth(s.easypostGetShipment))
	s.mux.HandleFunc("POST /easypost/v2/shipments/{id}/buy", s.easypostAuth(s.easypostBuy))
	s.mux.HandleFunc("POST /easypost/v2/shipments/{id}/refund", s.easypostAuth(s.easypostRefund))
	s.mux.HandleFunc("GET /easypost/v2/trackers", s.easypostAuth(s.easypostListTrackers))
	s.mux.HandleFunc("GET /easypost/v2/trackers/{id}", s.easypostAuth(s.easypostGetTracker))
}

// SignEasyPost returns EasyPost's signature header value for body.
func SignEasyPost(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "hmac-sha256-hex=" + hex.EncodeToString(m.Sum(nil))
}

func easypostError(w http.ResponseWriter, status int, code, message string, fields ...map[string]any) {
	errs := []any{}
	for _, f := range fields {
		errs = append(errs, f)
	}
	WriteJSON(w, status, easypostErrorBody(code, message, errs))
}

func easypostErrorBody(code, message string, errs []any) map[string]any {
	if errs == nil {
		errs = []any{}
	}
	return map[string]any{"error": map[string]any{"code": code, "message": message, "errors": errs}}
}

func (s *Server) easypostAuth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		isKey := func(k string) bool { return strings.HasPrefix(k, "EZTK") || strings.HasPrefix(k, "EZAK") }
		ok := false
		if token, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found {
			ok = isKey(token)
		} else if user, pass, found := r.BasicAuth(); found {
			ok = isKey(user) || isKey(pass)
		}
		if !ok {
			easypostError(w, http.StatusUnauthorized, "APIKEY.REQUIRED", "This resource requires a valid API key, sent as a bearer token or as the basic auth username.")
			return
		}
		next(w, r)
	}
}

func easypostNow() string { return time.Now().UTC().Format(time.RFC3339) }

func (s *Server) easypostCreateShipment(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(r)
	if err != nil {
		easypostError(w, http.StatusBadRequest, "BAD_REQUEST", "The request body could not be read.")
		return
	}
	var req struct {
		Shipment *struct {
			ToAddress   map[string]any `json:"to_address"`
			FromAddress map[string]any `json:"from_address"`
			Parcel      map[string]any `json:"parcel"`
			Reference   string         `json:"reference"`
			Options     map[string]any `json:"options"`
		} `json:"shipment"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Shipment == nil {
		easypostError(w, http.StatusBadRequest, "PARAMETER.REQUIRED", "Missing required parameter: shipment.")
		return
	}
	in := req.Shipment
	var fields []map[string]any
	if len(in.ToAddress) == 0 {
		fields = append(fields, map[string]any{"field": "to_address", "message": "cannot be blank"})
	}
	if len(in.FromAddress) == 0 {
		fields = append(fields, map[string]any{"field": "from_address", "message": "cannot be blank"})
	}
	weight, _ := in.Parcel["weight"].(float64)
	if weight <= 0 {
		fields = append(fields, map[string]any{"field": "parcel.weight", "message": "must be greater than 0"})
	}
	if len(fields) > 0 {
		easypostError(w, http.StatusUnprocessableEntity, "SHIPMENT.INVALID_PARAMS", "Unable to create shipment, one or more parameters were invalid.", fields...)
		return
	}
	s.Mutate(w, r, "easypost", body, func() (int, any) {
		id := s.NewID("shp")
		created := easypostNow()
		parcel := clone(in.Parcel)
		parcel["id"], parcel["object"] = s.NewID("prcl"), "Parcel"
		to, from := clone(in.ToAddress), clone(in.FromAddress)
		to["id"], to["object"] = s.NewID("adr"), "Address"
		from["id"], from["object"] = s.NewID("adr"), "Address"
		var rates []any
		for _, svc := range []struct {
			carrier, service string
			base, perOz      float64
			days             int
		}{
			{"USPS", "GroundAdvantage", 4.75, 0.12, 5},
			{"USPS", "Priority", 7.90, 0.18, 2},
			{"UPS", "Ground", 9.45, 0.10, 4},
		} {
			amount := fmt.Sprintf("%.2f", math.Round((svc.base+svc.perOz*weight)*100)/100)
			rates = append(rates, map[string]any{
				"id": s.NewID("rate"), "object": "Rate", "mode": "test", "shipment_id": id,
				"carrier": svc.carrier, "service": svc.service, "rate": amount, "currency": "USD",
				"retail_rate": amount, "list_rate": amount, "delivery_days": svc.days,
				"carrier_account_id": "ca_sandbox_" + strings.ToLower(svc.carrier), "created_at": created,
			})
		}
		shp := map[string]any{
			"id": id, "object": "Shipment", "mode": "test", "reference": easypostNullable(in.Reference),
			"status": "unknown", "to_address": to, "from_address": from, "parcel": parcel,
			"options": easypostOrEmpty(in.Options), "rates": rates, "messages": []any{},
			"selected_rate": nil, "postage_label": nil, "tracking_code": nil, "tracker": nil,
			"refund_status": nil, "created_at": created, "updated_at": created,
		}
		s.Put(epShipments, id, shp)
		s.Count("easypost.shipments.created")
		return http.StatusCreated, shp
	})
}

func (s *Server) easypostGetShipment(w http.ResponseWriter, r *http.Request) {
	shp := s.view(epShipments, r.PathValue("id"))
	if shp == nil {
		easypostError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource could not be found.")
		return
	}
	WriteJSON(w, http.StatusOK, shp)
}

func (s *Server) easypostBuy(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(r)
	if err != nil {
		easypostError(w, http.StatusBadRequest, "BAD_REQUEST", "The request body could not be read.")
		return
	}
	var req struct {
		Rate struct {
			ID string `json:"id"`
		} `json:"rate"`
	}
	if json.Unmarshal(body, &req) != nil || req.Rate.ID == "" {
		easypostError(w, http.StatusUnprocessableEntity, "SHIPMENT.INVALID_PARAMS", "Missing required parameter: rate.", map[string]any{"field": "rate.id", "message": "cannot be blank"})
		return
	}
	id := r.PathValue("id")
	s.Mutate(w, r, "easypost", body, func() (int, any) {
		s.easypostMu.Lock()
		defer s.easypostMu.Unlock()
		shp := s.Get(epShipments, id)
		if shp == nil {
			return http.StatusNotFound, easypostErrorBody("NOT_FOUND", "The requested resource could not be found.", nil)
		}
		if shp["postage_label"] != nil {
			return http.StatusUnprocessableEntity, easypostErrorBody("SHIPMENT.POSTAGE.EXISTS", "Postage already exists for this shipment.", nil)
		}
		var rate map[string]any
		for _, v := range shp["rates"].([]any) {
			if rt := v.(map[string]any); rt["id"] == req.Rate.ID {
				rate = rt
			}
		}
		if rate == nil {
			return http.StatusUnprocessableEntity, easypostErrorBody("SHIPMENT.RATE.INVALID", "The rate does not belong to this shipment.",
				[]any{map[string]any{"field": "rate.id", "message": "is not a rate of " + id}})
		}
		stamp := easypostNow()
		code := "EZ4" + strings.TrimPrefix(s.NewID("ez"), "ez_") + "000"
		label := s.NewID("pl")
		tracker := map[string]any{
			"id": s.NewID("trk"), "object": "Tracker", "mode": "test", "tracking_code": code,
			"status": "in_transit", "status_detail": "arrived_at_facility", "carrier": rate["carrier"],
			"shipment_id": id, "est_delivery_date": time.Now().UTC().AddDate(0, 0, 3).Format(time.RFC3339),
			"public_url": "https://track.easypost.com/sandbox/" + code, "signed_by": nil, "weight": nil,
			"tracking_details": []any{
				map[string]any{"object": "TrackingDetail", "status": "pre_transit", "message": "Pre-Shipment information received", "datetime": stamp},
				map[string]any{"object": "TrackingDetail", "status": "in_transit", "message": "Arrived at facility", "datetime": stamp},
			},
			"created_at": stamp, "updated_at": stamp,
		}
		shp["status"] = "unknown"
		shp["selected_rate"] = rate
		shp["tracking_code"] = code
		shp["tracker"] = tracker
		shp["postage_label"] = map[string]any{
			"id": label, "object": "PostageLabel", "label_file_type": "image/png", "label_size": "4x6",
			"label_url":  "https://easypost-files.sandbox.invalid/files/postage_label/" + label + ".png",
			"created_at": stamp,
		}
		shp["updated_at"] = stamp
		s.Put(epShipments, id, shp)
		s.Put(epTrackers, tracker["id"].(string), tracker)
		s.Count("easypost.shipments.bought")
		s.easypostTrackerUpdated(tracker)
		return http.StatusOK, shp
	})
}

// easypostTrackerUpdated posts the tracker.updated event of a tracker that
// went from pre_transit to its current status.
func (s *Server) easypostTrackerUpdated(tracker map[string]any) {
	stamp := easypostNow()
	event := map[string]any{
		"object": "Event", "id": s.NewID("evt"), "mode": "test", "description": "tracker.updated",
		"previous_attributes": map[string]any{"status": "pre_transit"}, "result": tracker,
		"status": "pending", "pending_urls": []any{}, "completed_urls": []any{},
		"created_at": stamp, "updated_at": stamp,
	}
	body, err := json.Marshal(event)
	if err != nil {
		return
	}
	secret := s.WebhookSecret()
	s.PostWebhook("/hooks/easypost", body, func(body []byte, _ time.Time) http.Header {
		return http.Header{EasyPostSignatureHeader: {SignEasyPost(secret, body)}}
	})
}

func (s *Server) easypostRefund(w http.ResponseWriter, r *http.Request) {
	body, err := ReadBody(r)
	if err != nil {
		easypostError(w, http.StatusBadRequest, "BAD_REQUEST", "The request body could not be read.")
		return
	}
	id := r.PathValue("id")
	s.Mutate(w, r, "easypost", body, func() (int, any) {
		s.easypostMu.Lock()
		defer s.easypostMu.Unlock()
		shp := s.Get(epShipments, id)
		switch {
		case shp == nil:
			return http.StatusNotFound, easypostErrorBody("NOT_FOUND", "The requested resource could not be found.", nil)
		case shp["postage_label"] == nil:
			return http.StatusUnprocessableEntity, easypostErrorBody("SHIPMENT.REFUND.UNAVAILABLE", "This shipment has no postage to refund.", nil)
		case shp["refund_status"] != nil:
			return http.StatusOK, shp // already asked for: nothing more to do
		}
		shp["refund_status"] = "submitted"
		shp["updated_at"] = easypostNow()
		s.Put(epShipments, id, shp)
		s.Count("easypost.shipments.refunded")
		return http.StatusOK, shp
	})
}

func (s *Server) easypostListTrackers(w http.ResponseWriter, r *http.Request) {
	code, carrier := r.URL.Query().Get("tracking_code"), r.URL.Query().Get("carrier")
	match := func(t map[string]any) bool {
		return (code == "" || t["tracking_code"] == code) && (carrier == "" || strings.EqualFold(fmt.Sprint(t["carrier"]), carrier))
	}
	var trackers []map[string]any
	if code != "" {
		trackers = s.lookup(epTrackers, "tracking_code", []string{code}, match)
	} else {
		trackers = s.scan(epTrackers, match, false)
	}
	list := make([]any, len(trackers))
	for i, t := range trackers {
		list[i] = t
	}
	WriteJSON(w, http.StatusOK, map[string]any{"trackers": list, "has_more": false})
}

func (s *Server) easypostGetTracker(w http.ResponseWriter, r *http.Request) {
	t := s.view(epTrackers, r.PathValue("id"))
	if t == nil {
		easypostError(w, http.StatusNotFound, "NOT_FOUND", "The requested resource could not be found.")
		return
	}
	WriteJSON(w, http.StatusOK, t)
}

func easypostNullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func easypostOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
