import JSON

/// One generated customer with its times already in microseconds.
struct SyntheticCustomer: Sendable {
    let object: JSONObject
    let createdTime: Int64
    let updatedTime: Int64
}

/// SplitMix64: tiny, fast, and the same sequence on every platform, which is all seeding needs (not for secrets).
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Realistic, deterministic customers for `seed`: ids `cust-000001`…, names and plausible addresses in ten
/// countries (postal codes in each country's format, locale matching the country), about one in five a business
/// (with `shipping.organization` and metadata), 0–3 metadata keys otherwise, about 5 % with a verified tax
/// identifier (only in countries that have one here: GB, DE, FR, NL, IT, ES), about 1 % with
/// `requestToBeForgotten`, about 2 % disabled, and times spread over the year before `referenceTime`.
///
/// Customer *n* depends only on `seedRandom` and *n*, never on how many are generated: `--seed 10` and `--seed 1000`
/// share their first ten customers.
enum SyntheticCustomers {
    static func generate(count: Int, seedRandom: UInt64, referenceTime: Int64, liveMode: Bool) -> [SyntheticCustomer] {
        guard count > 0 else { return [] }
        return (1...count).map { customer(number: $0, seedRandom: seedRandom, referenceTime: referenceTime, liveMode: liveMode) }
    }

    /// Start of the UTC day containing `time` (µs).
    static func startOfDay(_ time: Int64) -> Int64 {
        let day: Int64 = 86_400_000_000
        return time >= 0 ? time / day * day : (time - day + 1) / day * day
    }

    static func customer(number: Int, seedRandom: UInt64, referenceTime: Int64, liveMode: Bool) -> SyntheticCustomer {
        // Mix the seed and the number so each customer has its own independent stream.
        var mixer = SplitMix64(seed: seedRandom ^ (UInt64(number) &* 0xD1B5_4A32_D192_ED03))
        var random = SplitMix64(seed: mixer.next())

        let id = "cust-" + padded(number, 6)
        let country = pickCountry(&random)
        let place = pick(country.places, &random)
        let first = pick(country.firstNames, &random)
        let last = pick(country.lastNames, &random)
        let isBusiness = random.next() % 100 < 20
        let domain = random.next() % 3 == 0 ? "example.org" : "example.com"
        let email = "\(asciiSlug(first)).\(asciiSlug(last))\(random.next() % 4 == 0 ? String(random.next() % 100) : "")@\(domain)"

        let year: Int64 = 365 * 86_400_000_000
        // Whole milliseconds, as every time the sandbox writes (see sandboxTimeString).
        let createdTime = millisecondAligned(referenceTime - 1 - Int64(random.next() % UInt64(year)))
        let updatedTime = random.next() % 2 == 0
            ? createdTime
            : millisecondAligned(createdTime + Int64(random.next() % UInt64(referenceTime - createdTime)))

        var address = JSONObject()
        address["line1"] = .string(country.streetLine(Int(random.next() % 240) + 1, pick(country.streets, &random)))
        if random.next() % 6 == 0 { address["line2"] = .string(country.secondLine(Int(random.next() % 40) + 1)) }
        address["city"] = .string(place.city)
        address["postalCode"] = .string(country.postalCode(place.prefix, &random))
        if let state = place.state { address["state"] = .string(state) }
        address["country"] = .string(country.code)

        var shipping = JSONObject()
        shipping["name"] = .string("\(first) \(last)")
        // International format drops the trunk 0, so the national number starts with 1–9.
        shipping["phone"] = .string(country.phonePrefix + String(1 + random.next() % 9) + digits(country.phoneDigits - 1, &random))
        shipping["email"] = .string(email)
        var organization: String?
        if isBusiness {
            organization = "\(last) \(pick(businessSuffixes, &random))"
            shipping["organization"] = organization.map(JSONValue.string)
        }
        shipping["address"] = .object(address)

        var metadata = JSONObject()
        if isBusiness {
            metadata["crmAccountId"] = .string("ACC-" + digits(6, &random))
            metadata["accountTier"] = .string(pick(["standard", "silver", "gold", "platinum"], &random))
            if random.next() % 2 == 0 { metadata["purchaseOrderRequired"] = .bool(true) }
        } else {
            let keys = Int(random.next() % 4)
            for key in individualMetadataKeys.prefix(keys) {
                switch key {
                case "loyaltyId": metadata[key] = .string("LOY" + digits(8, &random))
                case "signupChannel": metadata[key] = .string(pick(["web", "mobile-app", "store", "partner"], &random))
                default: metadata[key] = .string(pick(["newsletter", "vip", "returning", "student"], &random))
                }
            }
        }

        var taxIdentifiers: [JSONValue] = []
        if let taxType = country.taxIdentifierType, random.next() % 100 < 10 {
            var taxIdentifier = JSONObject()
            let taxTime = JSONValue.string(sandboxTimeString(createdTime))
            taxIdentifier["id"] = .string("tax-" + digits(10, &random))
            taxIdentifier["createdTime"] = taxTime
            taxIdentifier["customerId"] = .string(id)
            taxIdentifier["type"] = .string(taxType)
            taxIdentifier["value"] = .string(country.code + digits(9, &random))
            taxIdentifier["state"] = .string("verified")
            if let organization { taxIdentifier["verifiedName"] = .string(organization) }
            taxIdentifier["updatedTime"] = taxTime
            taxIdentifiers.append(.object(taxIdentifier))
        }

        var object = JSONObject()
        object["id"] = .string(id)
        object["createdTime"] = .string(sandboxTimeString(createdTime))
        object["updatedTime"] = .string(sandboxTimeString(updatedTime))
        object["email"] = .string(email)
        object["shipping"] = .object(shipping)
        object["sources"] = .array([])
        object["taxIdentifiers"] = .array(taxIdentifiers)
        object["requestToBeForgotten"] = .bool(random.next() % 100 == 0)
        object["type"] = .string(isBusiness ? "business" : "individual")
        if !metadata.isEmpty { object["metadata"] = .object(metadata) }
        object["locale"] = .string(pick(country.locales, &random))
        object["enabled"] = .bool(random.next() % 50 != 0)
        object["liveMode"] = .bool(liveMode)
        return SyntheticCustomer(object: CustomerDirectory.canonical(object), createdTime: createdTime, updatedTime: updatedTime)
    }

    // MARK: Helpers

    /// Country shares in percent, in the order of `countries`; the US dominates as in most merchants' data.
    static let countryWeights = [30, 12, 12, 10, 8, 8, 5, 5, 5, 5]

    static func pickCountry(_ random: inout SplitMix64) -> Country {
        var roll = Int(random.next() % 100)
        for (index, weight) in countryWeights.enumerated() {
            if roll < weight { return countries[index] }
            roll -= weight
        }
        return countries[0]
    }

    static func pick<T>(_ items: [T], _ random: inout SplitMix64) -> T {
        items[Int(random.next() % UInt64(items.count))]
    }

    static func digits(_ count: Int, _ random: inout SplitMix64) -> String {
        String((0..<count).map { _ in Character(Unicode.Scalar(UInt8(ascii: "0") + UInt8(random.next() % 10))) })
    }

    static func letters(_ count: Int, _ random: inout SplitMix64) -> String {
        let alphabet = Array("ABDEFGHJLNPQRSTUWXYZ")
        return String((0..<count).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
    }

    static func padded(_ number: Int, _ width: Int) -> String {
        let text = String(number)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// Lower-case ASCII for an email local part ("Müller" → "muller", "Sørensen" → "sorensen").
    static func asciiSlug(_ name: String) -> String {
        let folded: [Character: String] = ["ä": "a", "ö": "o", "ü": "u", "ß": "ss", "é": "e", "è": "e", "ê": "e",
                                           "ç": "c", "à": "a", "ï": "i", "ô": "o", "ø": "o", "å": "a", "í": "i",
                                           "á": "a", "ó": "o", "ú": "u", "ñ": "n", "ò": "o", "ì": "i"]
        var result = ""
        for character in name.lowercased() {
            if let replacement = folded[character] {
                result += replacement
            } else if character.isASCII, character.isLetter {
                result.append(character)
            }
        }
        return result.isEmpty ? "customer" : result
    }

    static let individualMetadataKeys = ["loyaltyId", "signupChannel", "segment"]
    static let businessSuffixes = ["GmbH", "Ltd", "Inc.", "SARL", "B.V.", "S.p.A.", "S.L.", "K.K.", "Pty Ltd", "Corp."]

    /// A city with the leading part of its postal codes and, where the country uses one, its state or province.
    struct Place: Sendable {
        let city: String
        let prefix: String
        let state: String?
    }

    /// Everything needed to make a plausible customer in one country.
    struct Country: Sendable {
        let code: String
        let locales: [String]
        let phonePrefix: String
        let phoneDigits: Int
        let taxIdentifierType: String?
        let places: [Place]
        let streets: [String]
        let firstNames: [String]
        let lastNames: [String]
        /// Whether the house number follows the street name ("Hauptstraße 12") or precedes it ("12 Main Street").
        let numberAfterStreet: Bool
        /// Postal code shape, `#` a digit and `A` a letter, after the place's prefix.
        let postalPattern: String

        func streetLine(_ number: Int, _ street: String) -> String {
            numberAfterStreet ? "\(street) \(number)" : "\(number) \(street)"
        }

        func secondLine(_ number: Int) -> String {
            switch code {
            case "US", "CA", "AU": "Apt \(number)"
            case "GB": "Flat \(number)"
            case "DE": "\(number). OG"
            case "FR": "Bâtiment \(Character(Unicode.Scalar(UInt8(ascii: "A") + UInt8(number % 6))))"
            case "JP": "\(number)号室"
            default: "Unit \(number)"
            }
        }

        func postalCode(_ prefix: String, _ random: inout SplitMix64) -> String {
            var code = prefix
            for symbol in postalPattern {
                switch symbol {
                case "#": code += SyntheticCustomers.digits(1, &random)
                case "A": code += SyntheticCustomers.letters(1, &random)
                default: code.append(symbol)
                }
            }
            return code
        }
    }

    static let countries: [Country] = [
        Country(code: "US", locales: ["en_US", "en_US", "en_US", "es_US"], phonePrefix: "+1 ", phoneDigits: 10, taxIdentifierType: nil,
                places: [Place(city: "New York", prefix: "100", state: "NY"), Place(city: "San Francisco", prefix: "941", state: "CA"),
                         Place(city: "Chicago", prefix: "606", state: "IL"), Place(city: "Austin", prefix: "787", state: "TX"),
                         Place(city: "Seattle", prefix: "981", state: "WA"), Place(city: "Boston", prefix: "021", state: "MA"),
                         Place(city: "Minneapolis", prefix: "554", state: "MN"), Place(city: "Denver", prefix: "802", state: "CO")],
                streets: ["Main Street", "Oak Avenue", "Maple Drive", "Park Place", "Cedar Lane", "Washington Boulevard", "Elm Street"],
                firstNames: ["James", "Mary", "Robert", "Patricia", "Michael", "Jennifer", "David", "Linda", "Maria", "Kevin"],
                lastNames: ["Smith", "Johnson", "Williams", "Brown", "Garcia", "Miller", "Davis", "Rodriguez", "Wilson", "Anderson"],
                numberAfterStreet: false, postalPattern: "##"),
        Country(code: "GB", locales: ["en_GB"], phonePrefix: "+44 ", phoneDigits: 10, taxIdentifierType: "uk",
                places: [Place(city: "London", prefix: "SW", state: nil), Place(city: "Manchester", prefix: "M", state: nil),
                         Place(city: "Bristol", prefix: "BS", state: nil), Place(city: "Leeds", prefix: "LS", state: nil),
                         Place(city: "Edinburgh", prefix: "EH", state: nil)],
                streets: ["High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane"],
                firstNames: ["Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Emily"],
                lastNames: ["Taylor", "Jones", "Evans", "Thomas", "Roberts", "Walker", "Wright", "Hughes"],
                numberAfterStreet: false, postalPattern: "# #AA"),
        Country(code: "DE", locales: ["de_DE", "de_DE", "en_DE"], phonePrefix: "+49 ", phoneDigits: 10, taxIdentifierType: "de",
                places: [Place(city: "Berlin", prefix: "10", state: "BE"), Place(city: "München", prefix: "80", state: "BY"),
                         Place(city: "Hamburg", prefix: "20", state: "HH"), Place(city: "Köln", prefix: "50", state: "NW"),
                         Place(city: "Frankfurt am Main", prefix: "60", state: "HE")],
                streets: ["Hauptstraße", "Schulstraße", "Gartenstraße", "Bahnhofstraße", "Lindenweg"],
                firstNames: ["Lukas", "Anna", "Jonas", "Lea", "Felix", "Sophie", "Paul", "Marie"],
                lastNames: ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Wagner", "Hoffmann"],
                numberAfterStreet: true, postalPattern: "###"),
        Country(code: "FR", locales: ["fr_FR"], phonePrefix: "+33 ", phoneDigits: 9, taxIdentifierType: "fr",
                places: [Place(city: "Paris", prefix: "750", state: nil), Place(city: "Lyon", prefix: "690", state: nil),
                         Place(city: "Marseille", prefix: "130", state: nil), Place(city: "Toulouse", prefix: "310", state: nil),
                         Place(city: "Bordeaux", prefix: "330", state: nil)],
                streets: ["rue de la Paix", "avenue Victor Hugo", "rue du Moulin", "boulevard Voltaire", "rue de l'Église"],
                firstNames: ["Louis", "Camille", "Gabriel", "Léa", "Hugo", "Chloé", "Arthur", "Manon"],
                lastNames: ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"],
                numberAfterStreet: false, postalPattern: "##"),
        Country(code: "JP", locales: ["ja_JP", "ja_JP", "en_JP"], phonePrefix: "+81 ", phoneDigits: 10, taxIdentifierType: nil,
                places: [Place(city: "Tokyo", prefix: "10", state: "Tokyo"), Place(city: "Osaka", prefix: "53", state: "Osaka"),
                         Place(city: "Yokohama", prefix: "22", state: "Kanagawa"), Place(city: "Sapporo", prefix: "06", state: "Hokkaido"),
                         Place(city: "Fukuoka", prefix: "81", state: "Fukuoka")],
                streets: ["Chuo 1-chome", "Minato 2-chome", "Sakae 3-chome", "Honcho 4-chome"],
                firstNames: ["Haruto", "Yui", "Sota", "Hina", "Yuto", "Sakura", "Ren", "Aoi"],
                lastNames: ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"],
                numberAfterStreet: true, postalPattern: "#-####"),
        Country(code: "CA", locales: ["en_CA", "en_CA", "fr_CA"], phonePrefix: "+1 ", phoneDigits: 10, taxIdentifierType: nil,
                places: [Place(city: "Toronto", prefix: "M5", state: "ON"), Place(city: "Montréal", prefix: "H2", state: "QC"),
                         Place(city: "Vancouver", prefix: "V6", state: "BC"), Place(city: "Calgary", prefix: "T2", state: "AB")],
                streets: ["King Street", "Queen Street", "Rue Sainte-Catherine", "Granville Street"],
                firstNames: ["Liam", "Olivia", "Noah", "Emma", "William", "Charlotte", "Félix", "Alice"],
                lastNames: ["Tremblay", "Gagnon", "Roy", "Côté", "Bouchard", "MacDonald", "Campbell", "Wong"],
                numberAfterStreet: false, postalPattern: "A #A#"),
        Country(code: "AU", locales: ["en_AU"], phonePrefix: "+61 ", phoneDigits: 9, taxIdentifierType: nil,
                places: [Place(city: "Sydney", prefix: "20", state: "NSW"), Place(city: "Melbourne", prefix: "30", state: "VIC"),
                         Place(city: "Brisbane", prefix: "40", state: "QLD"), Place(city: "Perth", prefix: "60", state: "WA")],
                streets: ["George Street", "Collins Street", "Queen Street", "Hay Street"],
                firstNames: ["Jack", "Charlotte", "William", "Mia", "Thomas", "Chloe", "Lachlan", "Ruby"],
                lastNames: ["Smith", "Jones", "Williams", "Brown", "Wilson", "Nguyen", "Kelly", "Murphy"],
                numberAfterStreet: false, postalPattern: "##"),
        Country(code: "NL", locales: ["nl_NL", "en_NL"], phonePrefix: "+31 ", phoneDigits: 9, taxIdentifierType: "nl",
                places: [Place(city: "Amsterdam", prefix: "10", state: nil), Place(city: "Rotterdam", prefix: "30", state: nil),
                         Place(city: "Utrecht", prefix: "35", state: nil), Place(city: "Eindhoven", prefix: "56", state: nil)],
                streets: ["Kerkstraat", "Dorpsstraat", "Molenweg", "Prinsengracht"],
                firstNames: ["Daan", "Emma", "Sem", "Julia", "Lucas", "Tess", "Finn", "Sophie"],
                lastNames: ["de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer"],
                numberAfterStreet: true, postalPattern: "## AA"),
        Country(code: "IT", locales: ["it_IT"], phonePrefix: "+39 ", phoneDigits: 10, taxIdentifierType: "it",
                places: [Place(city: "Roma", prefix: "001", state: "RM"), Place(city: "Milano", prefix: "201", state: "MI"),
                         Place(city: "Napoli", prefix: "801", state: "NA"), Place(city: "Torino", prefix: "101", state: "TO")],
                streets: ["Via Roma", "Via Garibaldi", "Corso Italia", "Via Dante"],
                firstNames: ["Leonardo", "Sofia", "Francesco", "Giulia", "Alessandro", "Aurora", "Lorenzo", "Ginevra"],
                lastNames: ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"],
                numberAfterStreet: true, postalPattern: "##"),
        Country(code: "ES", locales: ["es_ES", "ca_ES"], phonePrefix: "+34 ", phoneDigits: 9, taxIdentifierType: "es",
                places: [Place(city: "Madrid", prefix: "280", state: "M"), Place(city: "Barcelona", prefix: "080", state: "B"),
                         Place(city: "Valencia", prefix: "460", state: "V"), Place(city: "Sevilla", prefix: "410", state: "SE")],
                streets: ["Calle Mayor", "Gran Vía", "Calle de Alcalá", "Avenida de la Constitución"],
                firstNames: ["Hugo", "Lucía", "Martín", "Sofía", "Mateo", "Martina", "Pablo", "Julia"],
                lastNames: ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez"],
                numberAfterStreet: true, postalPattern: "##"),
    ]
}
