package sandbox

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// HubSpot CRM v3 objects (contacts, companies, deals), custom property
// definitions (v3 properties) and v4 default associations, under /hubspot.
// Requests need `Authorization: Bearer pat-…`. Counters:
// hubspot.<type>.created, hubspot.<type>.updated,
// hubspot.properties.created, hubspot.associations.created.
//
// Values that must be unique are a contact's email (compared without
// case) and the value of any property declared with `hasUniqueValue: true`
// through `POST /crm/v3/properties/{type}`, as an account sets one up in
// HubSpot (compared exactly). A create or an update that repeats one
// another object holds is refused with 409 CONFLICT, whose message ends
// "Existing ID: <id>". Properties that were never declared are stored
// anyway, as they always were here (HubSpot refuses them), and are not
// unique. A read `GET /crm/v3/objects/{type}/{value}?idProperty={name}`
// finds the object by such a value instead of its ID: name must be a
// property declared unique, or `email` for contacts (400 otherwise).

// hubspotTypes maps the names HubSpot accepts for an object type to its
// plural name.
var hubspotTypes = map[string]string{
	"contacts": "contacts", "contact": "contacts", "0-1": "contacts",
	"companies": "companies", "company": "companies", "0-2": "companies",
	"deals": "deals", "deal": "deals", "0-3": "deals",
}

// hubspotDefaultProps are the properties a search returns when it names none.
var hubspotDefaultProps = map[string][]string{
	"contacts":  {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"},
	"companies": {"createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"},
	"deals":     {"amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id", "pipeline"},
}

// hubspotTypeIDs are the object type IDs HubSpot names types by in some
// messages.
var hubspotTypeIDs = map[string]string{"contacts": "0-1", "companies": "0-2", "deals": "0-3"}

// hubspotSingular names one object of a type in messages.
var hubspotSingular = map[string]string{"contacts": "contact", "companies": "company", "deals": "deal"}

// hubspotSystemProps are the properties HubSpot sets itself.
var hubspotSystemProps = map[string]bool{"createdate": true, "hs_lastmodifieddate": true, "hs_object_id": true, "lastmodifieddate": true}

// hubspotBuiltIn reports whether name is a property HubSpot defines for
// objects of typ (one it sets itself, or a default one): it cannot be
// defined through the properties API, so it is never declared unique.
func hubspotBuiltIn(typ, name string) bool {
	return hubspotSystemProps[name] || slices.Contains(hubspotDefaultProps[typ], name)
}

// hubspotShownProps are returned besides those a read asks for.
var hubspotShownProps = []string{"createdate", "hs_object_id", "lastmodifieddate"}

// hubspotDealStages are the stages of the default deal pipeline.
var hubspotDealStages = []string{"appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"}

// hubspotAssociationTypes are HubSpot's default (unlabelled) association
// type IDs, by direction.
var hubspotAssociationTypes = map[[2]string]int{
	{"contacts", "companies"}: 279, {"companies", "contacts"}: 280,
	{"deals", "contacts"}: 3, {"contacts", "deals"}: 4,
	{"deals", "companies"}: 341, {"companies", "deals"}: 342,
}

func (s *Server) hubspotRoutes() {
	s.addIndex("hubspot.contacts", "email", func(o map[string]any) []string {
		props, _ := o["properties"].(map[string]any)
		return []string{hubspotFoldKey(hubspotString(props["email"]))}
	})
	for _, typ := range slices.Sorted(maps.Keys(hubspotSingular)) {
		s.addIndex("hubspot."+typ, "value", hubspotValueKeys(typ))
	}
	s.addIndex("hubspot.associations", "object", func(a map[string]any) []string {
		var keys []string
		for _, end := range [][2]string{{"from_type", "from_id"}, {"to_type", "to_id"}} {
			typ, ok1 := a[end[0]].(string)
			id, ok2 := a[end[1]].(string)
			if ok1 && ok2 {
				keys = append(keys, typ+":"+id)
			}
		}
		return keys
	})
	s.mux.HandleFunc("POST /hubspot/crm/v3/properties/{type}", s.hubspotAuth(s.hubspotCreateProperty))
	s.mux.HandleFunc("POST /hubspot/crm/v3/objects/{type}/search", s.hubspotAuth(s.hubspotSearch))
	s.mux.HandleFunc("POST /hubspot/crm/v3/objects/{type}", s.hubspotAuth(s.hubspotCreate))
	s.mux.HandleFunc("GET /hubspot/crm/v3/objects/{type}/{id}", s.hubspotAuth(s.hubspotGet))
	s.mux.HandleFunc("PATCH /hubspot/crm/v3/objects/{type}/{id}", s.hubspotAuth(s.hubspotUpdate))
	s.mux.HandleFunc("PUT /hubspot/crm/v4/objects/{from}/{fromID}/associations/default/{to}/{toID}", s.hubspotAuth(s.hubspotAssociate))
	s.mux.HandleFunc("GET /hubspot/crm/v4/objects/{from}/{fromID}/associations/{to}", s.hubspotAuth(s.hubspotAssociations))
	s.mux.HandleFunc("/hubspot/", s.hubspotAuth(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		s.hubspotFail(w, http.StatusNotFound, "OBJECT_NOT_FOUND", fmt.Sprintf("No route for %s %s", r.Method, strings.TrimPrefix(r.URL.Path, "/hubspot")))
	}))
}

// hubspotError is HubSpot's error object.
func (s *Server) hubspotError(category, message string) map[string]any {
	id := s.NewID("hubspot.correlation")
	n, _ := strconv.Atoi(id[strings.LastIndexByte(id, '_')+1:])
	return map[string]any{
		"status":        "error",
		"message":       message,
		"correlationId": fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		"category":      category,
	}
}

func (s *Server) hubspotFail(w http.ResponseWriter, status int, category, message string) {
	WriteJSON(w, status, s.hubspotError(category, message))
}

// hubspotAuth checks the private-app token and reads the body.
func (s *Server) hubspotAuth(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !strings.HasPrefix(token, "pat-") || len(token) <= len("pat-") {
			s.hubspotFail(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION",
				"Authentication credentials not found. This API supports private app tokens: send Authorization: Bearer pat-...")
			return
		}
		body, err := ReadBody(r)
		if err != nil {
			s.hubspotFail(w, http.StatusBadRequest, "VALIDATION_ERROR", "reading the request body: "+err.Error())
			return
		}
		h(w, r, body)
	}
}

func hubspotNow() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

// hubspotType resolves an object type from the path, or answers 400.
func (s *Server) hubspotType(w http.ResponseWriter, name string) (string, bool) {
	typ, ok := hubspotTypes[strings.ToLower(name)]
	if !ok {
		s.hubspotFail(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("Unable to infer object type from: %s", name))
	}
	return typ, ok
}

// hubspotProps decodes `{"properties": {...}}` into HubSpot's string values.
func hubspotProps(body []byte) (map[string]string, error) {
	var in struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("invalid input JSON: %v", err)
	}
	out := make(map[string]string, len(in.Properties))
	for k, v := range in.Properties {
		switch v := v.(type) {
		case nil:
			out[k] = ""
		case string:
			out[k] = v
		case bool:
			out[k] = strconv.FormatBool(v)
		case float64:
			out[k] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			return nil, fmt.Errorf("property values were not valid: %s must be a string, number or boolean", k)
		}
	}
	return out, nil
}

// hubspotInput reads the properties of a create or an update of typ, with
// a contact's email folded to lower case as HubSpot stores it; fail is the
// 400 answer's body for a body HubSpot would refuse.
func (s *Server) hubspotInput(typ string, body []byte) (props map[string]string, fail map[string]any) {
	props, err := hubspotProps(body)
	if err != nil {
		return nil, s.hubspotError("VALIDATION_ERROR", err.Error())
	}
	if typ == "contacts" && props["email"] != "" {
		props["email"] = strings.ToLower(props["email"])
	}
	if msg := hubspotValidate(typ, props); msg != "" {
		return nil, s.hubspotError("VALIDATION_ERROR", msg)
	}
	return props, nil
}

// hubspotValidate checks property values the way HubSpot does for the
// properties the sandbox knows; it returns a message or "".
func hubspotValidate(typ string, props map[string]string) string {
	var bad []string
	invalid := func(name, code, msg string) {
		b, _ := json.Marshal(map[string]any{"isValid": false, "message": msg, "error": code, "name": name})
		bad = append(bad, string(b))
	}
	switch typ {
	case "contacts":
		if email, ok := props["email"]; ok && email != "" {
			if a, err := mail.ParseAddress(email); err != nil || a.Address != email || !strings.Contains(email[strings.IndexByte(email, '@'):], ".") {
				invalid("email", "INVALID_EMAIL", fmt.Sprintf("Email address %s is invalid", email))
			}
		}
	case "deals":
		if v, ok := props["amount"]; ok && v != "" {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				invalid("amount", "INVALID_FLOAT", fmt.Sprintf("%s was not a valid number.", v))
			}
		}
		if v, ok := props["pipeline"]; ok && v != "default" {
			invalid("pipeline", "INVALID_OPTION", fmt.Sprintf("%s was not one of the allowed options: [default]", v))
		}
		if v, ok := props["dealstage"]; ok && !slices.Contains(hubspotDealStages, v) {
			invalid("dealstage", "INVALID_OPTION", fmt.Sprintf("%s was not one of the allowed options: [%s]", v, strings.Join(hubspotDealStages, ", ")))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return "Property values were not valid: [" + strings.Join(bad, ",") + "]"
}

// hubspotString is fmt.Sprint(v), faster for a string.
func hubspotString(v any) string {
	if str, ok := v.(string); ok {
		return str
	}
	return fmt.Sprint(v)
}

// hubspotFoldKey is the same for two strings if and only if
// strings.EqualFold holds for them: each rune is replaced by the smallest
// rune it folds to.
func hubspotFoldKey(str string) string {
	ascii := true
	for i := 0; i < len(str) && ascii; i++ {
		ascii = str[i] < utf8.RuneSelf
	}
	if ascii {
		return strings.ToUpper(str)
	}
	var b strings.Builder
	for _, r := range str {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// hubspotValueKeys returns the keys of the unique-value index of typ: an
// object is under "name\x00value" for each of its properties that is not
// built in (hubspotBuiltIn), since any of those may be declared unique,
// now or after the object was stored.
func hubspotValueKeys(typ string) func(o map[string]any) []string {
	return func(o map[string]any) []string {
		props, _ := o["properties"].(map[string]any)
		var keys []string
		for name, v := range props {
			if !hubspotBuiltIn(typ, name) {
				keys = append(keys, name+"\x00"+hubspotString(v))
			}
		}
		slices.Sort(keys) // index.update compares the keys of two versions
		return keys
	}
}

// hubspotHolder returns the first object of typ other than self whose
// property name holds value, looked up under key in the index of typ, or
// "". fold compares the values without case (strings.EqualFold), else
// they must be equal.
func (s *Server) hubspotHolder(typ, index, key, self, name, value string, fold bool) string {
	found := s.lookup("hubspot."+typ, index, []string{key}, func(o map[string]any) bool {
		props, _ := o["properties"].(map[string]any)
		v, ok := props[name]
		if !ok || o["id"] == self {
			return false
		}
		if fold {
			return strings.EqualFold(hubspotString(v), value)
		}
		return hubspotString(v) == value
	})
	if len(found) == 0 {
		return ""
	}
	return found[0]["id"].(string)
}

// hubspotEmailHolder returns the contact other than self holding email,
// if any.
func (s *Server) hubspotEmailHolder(email, self string) string {
	if email == "" {
		return ""
	}
	return s.hubspotHolder("contacts", "email", hubspotFoldKey(email), self, "email", email, true)
}

// hubspotDuplicate returns HubSpot's 409 answer to a create (self is "")
// or an update of the object self of typ whose props give another
// object's unique value: a contact's email, or the value of a property
// declared unique. It returns nil when there is none. Callers hold
// hubspotMu from this check to their write.
func (s *Server) hubspotDuplicate(typ, self string, props map[string]string) map[string]any {
	if email := props["email"]; typ == "contacts" {
		if id := s.hubspotEmailHolder(email, self); id != "" {
			msg := "Contact already exists. Existing ID: " + id
			if self != "" {
				msg = "A contact with the email '" + email + "' already exists. Existing ID: " + id
			}
			return s.hubspotError("CONFLICT", msg)
		}
	}
	for _, name := range s.hubspotUniqueProps(typ) {
		v := props[name]
		if v == "" {
			continue
		}
		if id := s.hubspotHolder(typ, "value", name+"\x00"+v, self, name, v, false); id != "" {
			return s.hubspotError("CONFLICT", fmt.Sprintf("A %s with %s '%s' already exists; the property requires unique values. Existing ID: %s",
				hubspotSingular[typ], name, v, id))
		}
	}
	return nil
}

// hubspotPropertyTypes are the property types HubSpot knows; only
// single-line text and numbers may require unique values.
var hubspotPropertyTypes = map[string]bool{"string": true, "number": true, "date": true, "datetime": true, "enumeration": true, "bool": true}

// hubspotPropertyInput reads a property definition and returns it as
// stored, or the 400 answer's body.
func (s *Server) hubspotPropertyInput(body []byte) (def map[string]any, fail map[string]any) {
	var in struct {
		Name           string `json:"name"`
		Label          string `json:"label"`
		Type           string `json:"type"`
		FieldType      string `json:"fieldType"`
		GroupName      string `json:"groupName"`
		Description    string `json:"description"`
		HasUniqueValue bool   `json:"hasUniqueValue"`
		Hidden         bool   `json:"hidden"`
		FormField      bool   `json:"formField"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, s.hubspotError("VALIDATION_ERROR", "Invalid input JSON: "+err.Error())
	}
	var missing []string
	for _, f := range [][2]string{{"name", in.Name}, {"label", in.Label}, {"type", in.Type}, {"fieldType", in.FieldType}, {"groupName", in.GroupName}} {
		if strings.TrimSpace(f[1]) == "" {
			missing = append(missing, f[0])
		}
	}
	switch {
	case len(missing) > 0:
		return nil, s.hubspotError("VALIDATION_ERROR", "Missing required fields: "+strings.Join(missing, ", "))
	case !hubspotPropertyTypes[in.Type]:
		return nil, s.hubspotError("VALIDATION_ERROR", fmt.Sprintf("%s is not a valid property type", in.Type))
	case in.HasUniqueValue && in.Type != "string" && in.Type != "number":
		return nil, s.hubspotError("VALIDATION_ERROR", "Only string and number properties can require unique values")
	}
	now := hubspotNow()
	return map[string]any{
		"name": in.Name, "label": in.Label, "type": in.Type, "fieldType": in.FieldType, "groupName": in.GroupName,
		"description": in.Description, "hasUniqueValue": in.HasUniqueValue, "hidden": in.Hidden, "formField": in.FormField,
		"options": []any{}, "calculated": false, "externalOptions": false, "archived": false,
		"createdAt": now, "updatedAt": now,
	}, nil
}

// hubspotCreateProperty defines a custom property of an object type, as
// HubSpot's properties API does; `hasUniqueValue: true` makes its values
// unique among the objects of the type from then on.
func (s *Server) hubspotCreateProperty(w http.ResponseWriter, r *http.Request, body []byte) {
	typ, ok := s.hubspotType(w, r.PathValue("type"))
	if !ok {
		return
	}
	s.Mutate(w, r, "hubspot", body, func() (int, any) {
		def, fail := s.hubspotPropertyInput(body)
		if fail != nil {
			return http.StatusBadRequest, fail
		}
		name := def["name"].(string)
		s.hubspotMu.Lock()
		defer s.hubspotMu.Unlock()
		if hubspotBuiltIn(typ, name) || s.view("hubspot.properties."+typ, name) != nil {
			return http.StatusConflict, s.hubspotError("CONFLICT", fmt.Sprintf("Property named '%s' already exists.", name))
		}
		s.Put("hubspot.properties."+typ, name, def)
		s.Count("hubspot.properties.created")
		return http.StatusCreated, def
	})
}

// hubspotRelayKeyProperty is the definition of the deal property relay_key
// with unique values, as the README's setup creates it in a real account
// for create_deal's unique_property (the bundled order-to-invoice flow
// uses it).
const hubspotRelayKeyProperty = `{"name":"relay_key","label":"Relay key","type":"string","fieldType":"text","groupName":"dealinformation","hasUniqueValue":true}`

// hubspotSeed defines the deal property relay_key (hubspotRelayKeyProperty).
func (s *Server) hubspotSeed() {
	def, fail := s.hubspotPropertyInput([]byte(hubspotRelayKeyProperty))
	if fail != nil {
		panic(fmt.Sprintf("sandbox: seeding hubspot: %v", fail))
	}
	s.Put("hubspot.properties.deals", "relay_key", def)
}

// hubspotUniqueProps returns the names of the properties of typ declared
// unique, sorted.
func (s *Server) hubspotUniqueProps(typ string) []string {
	var names []string
	for _, def := range s.scan("hubspot.properties."+typ, nil, false) {
		if def["hasUniqueValue"] == true {
			names = append(names, def["name"].(string))
		}
	}
	return names
}

func (s *Server) hubspotCreate(w http.ResponseWriter, r *http.Request, body []byte) {
	typ, ok := s.hubspotType(w, r.PathValue("type"))
	if !ok {
		return
	}
	s.Mutate(w, r, "hubspot", body, func() (int, any) {
		props, fail := s.hubspotInput(typ, body)
		if fail != nil {
			return http.StatusBadRequest, fail
		}
		s.hubspotMu.Lock()
		defer s.hubspotMu.Unlock()
		if dup := s.hubspotDuplicate(typ, "", props); dup != nil {
			return http.StatusConflict, dup
		}
		idn := s.NewID("hubspot." + typ)
		n, _ := strconv.Atoi(idn[strings.LastIndexByte(idn, '_')+1:])
		id, now := strconv.Itoa(100+n), hubspotNow()
		stored := map[string]any{}
		for k, v := range props {
			if v != "" {
				stored[k] = v
			}
		}
		stored["hs_object_id"], stored["createdate"], stored["lastmodifieddate"] = id, now, now
		if typ != "contacts" {
			stored["hs_lastmodifieddate"] = now
		}
		obj := map[string]any{"id": id, "properties": stored, "createdAt": now, "updatedAt": now, "archived": false}
		s.Put("hubspot."+typ, id, obj)
		s.Count("hubspot." + typ + ".created")
		return http.StatusCreated, obj
	})
}

func (s *Server) hubspotGet(w http.ResponseWriter, r *http.Request, _ []byte) {
	typ, ok := s.hubspotType(w, r.PathValue("type"))
	if !ok {
		return
	}
	var obj map[string]any
	if name := r.URL.Query().Get("idProperty"); name != "" {
		var unique bool
		if obj, unique = s.hubspotByValue(typ, name, r.PathValue("id")); !unique {
			// HubSpot's wording for a batch update by such a property; that
			// of a read is not documented.
			s.hubspotFail(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("Unable to perform read by non-unique %s property %s", hubspotTypeIDs[typ], name))
			return
		}
	} else {
		obj = s.view("hubspot."+typ, r.PathValue("id"))
	}
	if obj == nil {
		s.hubspotFail(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.")
		return
	}
	// HubSpot answers a read naming no properties with a default set; the
	// sandbox answers it with all of them.
	if asked := r.URL.Query()["properties"]; len(asked) > 0 {
		var want []string
		for _, list := range asked {
			for p := range strings.SplitSeq(list, ",") {
				if p = strings.TrimSpace(p); p != "" {
					want = append(want, p)
				}
			}
		}
		obj = hubspotShow(obj, append(want, hubspotShownProps...))
	}
	WriteJSON(w, http.StatusOK, obj)
}

// hubspotByValue returns, to read only, the object of typ whose property
// name holds value, or nil, as a read with `idProperty` finds it: unique
// is false, and obj nil, when name is neither a property of typ declared
// unique nor a contact's email. It holds hubspotMu, so that the property's
// definition and the objects are seen as one write left them (not, for
// example, between Reset's clearing and its seeding).
func (s *Server) hubspotByValue(typ, name, value string) (obj map[string]any, unique bool) {
	s.hubspotMu.Lock()
	defer s.hubspotMu.Unlock()
	var id string
	switch {
	case typ == "contacts" && name == "email":
		id = s.hubspotEmailHolder(value, "")
	case slices.Contains(s.hubspotUniqueProps(typ), name):
		if value != "" {
			id = s.hubspotHolder(typ, "value", name+"\x00"+value, "", name, value, false)
		}
	default:
		return nil, false
	}
	if id == "" {
		return nil, true
	}
	return s.view("hubspot."+typ, id), true
}

// hubspotShow returns a copy of o, a stored object, with the properties in
// want only: null when unset, as HubSpot answers.
func hubspotShow(o map[string]any, want []string) map[string]any {
	props, _ := o["properties"].(map[string]any)
	shown := map[string]any{}
	for _, p := range want {
		shown[p] = props[p]
	}
	o = maps.Clone(o)
	o["properties"] = shown
	return o
}

func (s *Server) hubspotUpdate(w http.ResponseWriter, r *http.Request, body []byte) {
	typ, ok := s.hubspotType(w, r.PathValue("type"))
	if !ok {
		return
	}
	id := r.PathValue("id")
	s.Mutate(w, r, "hubspot", body, func() (int, any) {
		props, fail := s.hubspotInput(typ, body)
		if fail != nil {
			return http.StatusBadRequest, fail
		}
		s.hubspotMu.Lock()
		defer s.hubspotMu.Unlock()
		obj := s.Get("hubspot."+typ, id)
		if obj == nil {
			return http.StatusNotFound, s.hubspotError("OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.")
		}
		if dup := s.hubspotDuplicate(typ, id, props); dup != nil {
			return http.StatusConflict, dup
		}
		stored, _ := obj["properties"].(map[string]any)
		if stored == nil {
			stored = map[string]any{}
		}
		for k, v := range props {
			if v == "" {
				delete(stored, k)
			} else {
				stored[k] = v
			}
		}
		now := hubspotNow()
		stored["lastmodifieddate"] = now
		if typ != "contacts" {
			stored["hs_lastmodifieddate"] = now
		}
		obj["properties"], obj["updatedAt"] = stored, now
		s.Put("hubspot."+typ, id, obj)
		s.Count("hubspot." + typ + ".updated")
		return http.StatusOK, obj
	})
}

// hubspotFilterGroup holds when all its filters do.
type hubspotFilterGroup struct {
	Filters []hubspotFilter `json:"filters"`
}

type hubspotFilter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        any    `json:"value"`
	Values       []any  `json:"values"`
	HighValue    any    `json:"highValue"`
}

func (f hubspotFilter) match(props map[string]any) (bool, error) {
	v, has := props[f.PropertyName].(string)
	want := fmt.Sprint(f.Value)
	num := func(a, b string) (float64, float64, bool) {
		x, err1 := strconv.ParseFloat(a, 64)
		y, err2 := strconv.ParseFloat(b, 64)
		return x, y, err1 == nil && err2 == nil
	}
	switch f.Operator {
	case "EQ":
		return has && strings.EqualFold(v, want), nil
	case "NEQ":
		return !has || !strings.EqualFold(v, want), nil
	case "HAS_PROPERTY":
		return has && v != "", nil
	case "NOT_HAS_PROPERTY":
		return !has || v == "", nil
	case "IN", "NOT_IN":
		in := slices.ContainsFunc(f.Values, func(e any) bool { return has && strings.EqualFold(v, fmt.Sprint(e)) })
		return in == (f.Operator == "IN"), nil
	case "CONTAINS_TOKEN":
		return has && strings.Contains(strings.ToLower(v), strings.ToLower(strings.Trim(want, "*"))), nil
	case "LT", "LTE", "GT", "GTE":
		x, y, ok := num(v, want)
		if !has || !ok {
			return false, nil
		}
		switch f.Operator {
		case "LT":
			return x < y, nil
		case "LTE":
			return x <= y, nil
		case "GT":
			return x > y, nil
		default:
			return x >= y, nil
		}
	case "BETWEEN":
		x, lo, ok1 := num(v, want)
		_, hi, ok2 := num(v, fmt.Sprint(f.HighValue))
		return has && ok1 && ok2 && x >= lo && x <= hi, nil
	}
	return false, fmt.Errorf("unsupported filter operator %q", f.Operator)
}

func (s *Server) hubspotSearch(w http.ResponseWriter, r *http.Request, body []byte) {
	typ, ok := s.hubspotType(w, r.PathValue("type"))
	if !ok {
		return
	}
	var in struct {
		FilterGroups []hubspotFilterGroup `json:"filterGroups"`
		Properties   []string             `json:"properties"`
		Sorts        []json.RawMessage    `json:"sorts"`
		Limit        int                  `json:"limit"`
		After        string               `json:"after"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			s.hubspotFail(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON: "+err.Error())
			return
		}
	}
	if in.Limit <= 0 {
		in.Limit = 10
	}
	if in.Limit > 200 {
		s.hubspotFail(w, http.StatusBadRequest, "VALIDATION_ERROR", "limit must be at most 200")
		return
	}
	var matchErr error
	match := func(o map[string]any) bool {
		if len(in.FilterGroups) == 0 {
			return true
		}
		props, _ := o["properties"].(map[string]any)
		for _, g := range in.FilterGroups {
			all := true
			for _, f := range g.Filters {
				ok, err := f.match(props)
				if err != nil {
					matchErr = err
				}
				all = all && ok
			}
			if all {
				return true
			}
		}
		return false
	}
	var found []map[string]any
	if keys, known, ok := hubspotSearchKeys(typ, in.FilterGroups); ok {
		found = s.lookup("hubspot.contacts", "email", keys, match)
	} else {
		// An unknown operator is reported as the objects are matched in
		// ID order: keep that order.
		found = s.scan("hubspot."+typ, match, !known)
	}
	if matchErr != nil {
		s.hubspotFail(w, http.StatusBadRequest, "VALIDATION_ERROR", matchErr.Error())
		return
	}
	numID := func(o map[string]any) int { n, _ := strconv.Atoi(fmt.Sprint(o["id"])); return n }
	slices.SortStableFunc(found, func(a, b map[string]any) int { return cmp.Compare(numID(a), numID(b)) })
	for i := len(in.Sorts) - 1; i >= 0; i-- {
		prop, desc, err := hubspotSort(in.Sorts[i])
		if err != nil {
			s.hubspotFail(w, http.StatusBadRequest, "VALIDATION_ERROR", err.Error())
			return
		}
		slices.SortStableFunc(found, func(a, b map[string]any) int {
			pa, _ := a["properties"].(map[string]any)
			pb, _ := b["properties"].(map[string]any)
			c := cmp.Compare(fmt.Sprint(pa[prop]), fmt.Sprint(pb[prop]))
			if x, y, ok := hubspotNumbers(pa[prop], pb[prop]); ok {
				c = cmp.Compare(x, y)
			}
			if desc {
				return -c
			}
			return c
		})
	}
	start, _ := strconv.Atoi(in.After)
	start = min(max(start, 0), len(found))
	end := min(start+in.Limit, len(found))
	want := in.Properties
	if len(want) == 0 {
		want = hubspotDefaultProps[typ]
	} else {
		want = append(slices.Clip(want), hubspotShownProps...)
	}
	results := make([]any, 0, end-start)
	for _, o := range found[start:end] {
		results = append(results, hubspotShow(o, want))
	}
	out := map[string]any{"total": len(found), "results": results}
	if end < len(found) {
		out["paging"] = map[string]any{"next": map[string]any{"after": strconv.Itoa(end)}}
	}
	WriteJSON(w, http.StatusOK, out)
}

// hubspotOperators are the filter operators hubspotFilter.match knows.
var hubspotOperators = []string{"EQ", "NEQ", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "IN", "NOT_IN", "CONTAINS_TOKEN", "LT", "LTE", "GT", "GTE", "BETWEEN"}

// hubspotSearchKeys returns the keys of the contacts email index under
// which every contact a search matches is, when each filter group has an
// EQ filter on the email (ok). known reports whether every operator is
// known; ok implies known.
func hubspotSearchKeys(typ string, groups []hubspotFilterGroup) (keys []string, known, ok bool) {
	known = true
	for _, g := range groups {
		for _, f := range g.Filters {
			known = known && slices.Contains(hubspotOperators, f.Operator)
		}
	}
	if !known || typ != "contacts" || len(groups) == 0 {
		return nil, known, false
	}
	for _, g := range groups {
		i := slices.IndexFunc(g.Filters, func(f hubspotFilter) bool { return f.PropertyName == "email" && f.Operator == "EQ" })
		if i < 0 {
			return nil, known, false
		}
		keys = append(keys, hubspotFoldKey(fmt.Sprint(g.Filters[i].Value)))
	}
	return keys, known, true
}

// hubspotSort reads one sort: "prop", "-prop" or {propertyName, direction}.
func hubspotSort(raw json.RawMessage) (prop string, desc bool, err error) {
	var name string
	if json.Unmarshal(raw, &name) == nil {
		prop, desc = strings.CutPrefix(name, "-")
		return prop, desc, nil
	}
	var obj struct {
		PropertyName string `json:"propertyName"`
		Direction    string `json:"direction"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.PropertyName == "" {
		return "", false, fmt.Errorf("invalid sort %s", raw)
	}
	switch obj.Direction {
	case "", "ASCENDING":
		return obj.PropertyName, false, nil
	case "DESCENDING":
		return obj.PropertyName, true, nil
	}
	return "", false, fmt.Errorf("invalid sort direction %q", obj.Direction)
}

func hubspotNumbers(a, b any) (float64, float64, bool) {
	x, err1 := strconv.ParseFloat(fmt.Sprint(a), 64)
	y, err2 := strconv.ParseFloat(fmt.Sprint(b), 64)
	return x, y, err1 == nil && err2 == nil
}

// hubspotAssociationKey names an association the same from either side.
func hubspotAssociationKey(typeA, idA, typeB, idB string) string {
	a, b := typeA+":"+idA, typeB+":"+idB
	if b < a {
		a, b = b, a
	}
	return a + "|" + b
}

func (s *Server) hubspotAssociate(w http.ResponseWriter, r *http.Request, body []byte) {
	from, ok := s.hubspotType(w, r.PathValue("from"))
	if !ok {
		return
	}
	to, ok := s.hubspotType(w, r.PathValue("to"))
	if !ok {
		return
	}
	fromID, toID := r.PathValue("fromID"), r.PathValue("toID")
	s.Mutate(w, r, "hubspot", body, func() (int, any) {
		forward, ok1 := hubspotAssociationTypes[[2]string{from, to}]
		backward, ok2 := hubspotAssociationTypes[[2]string{to, from}]
		if !ok1 || !ok2 {
			return http.StatusBadRequest, s.hubspotError("VALIDATION_ERROR", fmt.Sprintf("No default association type between %s and %s", from, to))
		}
		for _, o := range [][2]string{{from, fromID}, {to, toID}} {
			if s.view("hubspot."+o[0], o[1]) == nil {
				return http.StatusNotFound, s.hubspotError("OBJECT_NOT_FOUND", fmt.Sprintf("No %s with ID %s exists", strings.TrimSuffix(o[0], "s"), o[1]))
			}
		}
		now := hubspotNow()
		s.hubspotMu.Lock()
		key := hubspotAssociationKey(from, fromID, to, toID)
		if s.view("hubspot.associations", key) == nil {
			s.Put("hubspot.associations", key, map[string]any{
				"from_type": from, "from_id": fromID, "to_type": to, "to_id": toID,
				"from_type_id": forward, "to_type_id": backward, "createdAt": now,
			})
			s.Count("hubspot.associations.created")
		}
		s.hubspotMu.Unlock()
		spec := func(id int) map[string]any {
			return map[string]any{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": id}
		}
		return http.StatusOK, map[string]any{
			"status": "COMPLETE",
			"results": []any{
				map[string]any{"from": map[string]any{"id": fromID}, "to": map[string]any{"id": toID}, "associationSpec": spec(forward)},
				map[string]any{"from": map[string]any{"id": toID}, "to": map[string]any{"id": fromID}, "associationSpec": spec(backward)},
			},
			"startedAt":   now,
			"completedAt": now,
		}
	})
}

func (s *Server) hubspotAssociations(w http.ResponseWriter, r *http.Request, _ []byte) {
	from, ok := s.hubspotType(w, r.PathValue("from"))
	if !ok {
		return
	}
	to, ok := s.hubspotType(w, r.PathValue("to"))
	if !ok {
		return
	}
	fromID := r.PathValue("fromID")
	var results []any
	for _, a := range s.lookup("hubspot.associations", "object", []string{from + ":" + fromID}, nil) {
		var other string
		switch {
		case a["from_type"] == from && a["from_id"] == fromID && a["to_type"] == to:
			other = a["to_id"].(string)
		case a["to_type"] == from && a["to_id"] == fromID && a["from_type"] == to:
			other = a["from_id"].(string)
		default:
			continue
		}
		n, _ := strconv.Atoi(other)
		results = append(results, map[string]any{
			"toObjectId":       n,
			"associationTypes": []any{map[string]any{"category": "HUBSPOT_DEFINED", "typeId": hubspotAssociationTypes[[2]string{from, to}], "label": nil}},
		})
	}
	if results == nil {
		results = []any{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"results": results})
}
