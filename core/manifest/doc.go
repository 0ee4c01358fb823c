// Package manifest decodes and validates an app's app.json.
//
// Decoding is strict: an unknown field, a duplicate key or a value of the wrong type is an
// error that names the field by its JSON path and its line and column in the file, so a
// developer can fix a bad manifest without guessing. Validation fills defaults and refuses
// values above the appliance's hard ceilings. This package only describes an app; it neither
// bundles code (see core/bundle) nor enforces limits (see core/sandbox).
package manifest
