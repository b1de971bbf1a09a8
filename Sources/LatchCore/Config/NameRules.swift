/// Which characters the names in `lb.yaml` may use, and why.
enum NameRules {
    /// Node names are the route suffix of session ids, and those ids travel in a cookie, in a
    /// `;jsessionid=` path parameter and in a query parameter. RFC 3986's unreserved characters are
    /// the set that survives all three unescaped. The session separator is itself allowed: the route
    /// is everything after the *first* separator, so `a.b` is a fine route for `ID.a.b`.
    static func firstNonRouteCharacter(in name: String) -> Unicode.Scalar? {
        name.unicodeScalars.first { !isUnreserved($0) }
    }

    static let routeCharacters = "letters, digits, \"-\", \".\", \"_\" and \"~\""

    /// Cookie names and the `Via` pseudonym are HTTP tokens (RFC 9110 §5.6.2; RFC 6265 §4.1.1).
    static func firstNonTokenCharacter(in text: String) -> Unicode.Scalar? {
        text.unicodeScalars.first { scalar in
            !(isAlphanumeric(scalar) || "!#$%&'*+-.^_`|~".unicodeScalars.contains(scalar))
        }
    }

    private static func isUnreserved(_ scalar: Unicode.Scalar) -> Bool {
        isAlphanumeric(scalar) || scalar == "-" || scalar == "." || scalar == "_" || scalar == "~"
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9": return true
        default: return false
        }
    }
}
